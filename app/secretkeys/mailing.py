"""The reveal-link mail, worded as seed 000 shows it. It carries the link, never the key (the
key does not exist yet: it is created when the user reveals it)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

REVEAL_PATH = "/secret_key/reveal/"


@dataclass(frozen=True)
class RevealMail:
    subject: str
    body: str


def base_url(request_base_url: str | None) -> str:
    """APP_URL when configured, else the base URL of the request that caused the mail."""
    configured: str = current_app.config["APP_URL"]
    return (configured or request_base_url or "").rstrip("/")


def reveal_url(base: str, token: str) -> str:
    return f"{base}{REVEAL_PATH}{token}"


def _days(seconds: int) -> str:
    days = max(1, round(seconds / 86400))
    return f"{days} day" if days == 1 else f"{days} days"


def compose(*, greeting_name: str, link: str, base: str) -> RevealMail:
    config = current_app.config
    product: str = config["MAIL_PRODUCT_NAME"]
    guide: str = config["SECRET_KEY_API_GUIDE_URL"] or f"{base}/api/docs"
    lifetime = _days(int(config["SECRET_KEY_REVEAL_LINK_LIFETIME"]))
    body = (
        f"Dear {greeting_name},\n"
        "\n"
        "A secret key has been generated so you can access our Restful API in a secure and "
        "headless manner.\n"
        "\n"
        f"Please use the following link to view your key. The link will be active for "
        f"{lifetime}.\n"
        f"{link}\n"
        "\n"
        f"For guidance on how to use our Restful API, see {guide}\n"
        "\n"
        "Please keep your secret key safe at all times and do not allow others to use your "
        "account. If you believe your secret key has been compromised, please notify "
        f"{product} immediately by contacting your Secret Key Administrator or by opening a "
        "support ticket.\n"
        "\n"
        "Please open a support ticket under the support tab for any queries.\n"
        "\n"
        "Kind regards,\n"
        "\n"
        f"{product}\n"
    )
    return RevealMail(subject=f"{product}: Restful API Secret Key", body=body)
