"""Authlib's own private_key_jwt client authentication against a token endpoint.

    python authlib_private_key_jwt.py TOKEN_URL CLIENT_ID PRIVATE_KEY_PEM

Asks for a client_credentials token the way Authlib documents it (an OAuth2Session with
token_endpoint_auth_method="private_key_jwt" and a registered PrivateKeyJWT signing for the
token URL) and prints the token response as one JSON line on stdout. An OAuth error from the
endpoint goes to stderr with exit status 1. The key is an RSA private key (PEM): the
assertion is RS256, Authlib's default, valid for Authlib's default hour.
"""
import json
import sys

from authlib.integrations.requests_client import OAuth2Session
from authlib.integrations.base_client.errors import OAuthError
from authlib.oauth2.rfc7523 import PrivateKeyJWT


def main(token_url, client_id, private_key_path):
    with open(private_key_path, encoding="ascii") as key_file:
        private_key = key_file.read()
    session = OAuth2Session(client_id, private_key, token_endpoint_auth_method="private_key_jwt")
    session.register_client_auth_method(PrivateKeyJWT(token_url))
    try:
        token = session.fetch_token(token_url, grant_type="client_credentials", timeout=10)
    except OAuthError as error:
        print(json.dumps({"error": error.error, "error_description": error.description}), file=sys.stderr)
        return 1
    print(json.dumps(dict(token)))
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 4:
        print(__doc__.strip(), file=sys.stderr)
        sys.exit(2)
    sys.exit(main(*sys.argv[1:]))
