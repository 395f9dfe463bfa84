"""The client-facing words of a refused credential, in one place: the gate and every verifier
say the same thing for the same failure (Sure's wording, which its clients match on)."""

CREDENTIAL_MISSING = "Access token or API key is invalid, expired, or missing"
ACCESS_TOKEN_INVALID = "Access token is invalid, expired, or missing required scope"
TOKEN_WITHOUT_OWNER = "Access token is invalid - missing resource owner"
OWNER_NOT_FOUND = "Access token is invalid - user not found"
ACCOUNT_DEACTIVATED = "Account has been deactivated"
FIRST_PARTY_ONLY = (
    "Only the account holder's own session or app can manage credentials and account security"
)
WRONG_AUDIENCE = "Access token was issued for another resource"
