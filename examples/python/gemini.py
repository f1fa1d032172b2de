"""Call Gemini (Vertex AI) with a token from the token broker, through Google's own libraries.

    python gemini.py [--credentials FILE] [--project P] [--location L] [--model M]
                     [--gemini-base-url URL] [--prompt TEXT]

FILE is an external_account credential file whose token_url is the broker (written by
`npm run -s admin -- external-account ...`); without --credentials, GOOGLE_APPLICATION_CREDENTIALS.
google-auth reads the workload's OIDC token from the file's credential_source, exchanges it at
the broker (RFC 8693) and refreshes it when it expires; google-genai sends it to Gemini as its
Bearer token. No broker code, no key.

--gemini-base-url points google-genai at another endpoint (a local Gemini emulator); without
it, the real Vertex AI endpoint of --location. Prints the model's answer on stdout.
"""
import argparse
import os
import sys

import google.auth
from google import genai

CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--credentials", default=os.environ.get("GOOGLE_APPLICATION_CREDENTIALS"))
    parser.add_argument("--project", default=os.environ.get("GOOGLE_CLOUD_PROJECT"))
    parser.add_argument("--location", default=os.environ.get("GOOGLE_CLOUD_LOCATION", "us-central1"))
    parser.add_argument("--model", default="gemini-2.5-flash")
    parser.add_argument("--gemini-base-url", default=os.environ.get("GEMINI_BASE_URL"))
    parser.add_argument("--prompt", default="Say hello")
    options = parser.parse_args(argv)
    if not options.credentials or not options.project:
        parser.error("--credentials (or GOOGLE_APPLICATION_CREDENTIALS) and --project (or GOOGLE_CLOUD_PROJECT) are required")

    # The broker's answer is already the service account's token: the file has no
    # service_account_impersonation_url, and the rule must allow the scope asked for here.
    credentials, _ = google.auth.load_credentials_from_file(options.credentials, scopes=[CLOUD_PLATFORM])

    http_options = {"base_url": options.gemini_base_url} if options.gemini_base_url else None
    client = genai.Client(
        vertexai=True,
        project=options.project,
        location=options.location,
        credentials=credentials,  # genai refreshes them (the exchange at the broker) as needed
        http_options=http_options,
    )
    response = client.models.generate_content(model=options.model, contents=options.prompt)
    print(response.text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
