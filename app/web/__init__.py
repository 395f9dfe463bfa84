"""Server-rendered pages: sign-in, consent, the signed-in home page."""
