"""Python google-auth (and optionally google-genai), unmodified, with an external_account file.

    python google_auth_external_account.py CREDENTIALS_FILE [--gemini-base-url URL]
        [--project P] [--location L] [--model M] [--prompt TEXT]

Loads the file the way google-auth documents it (google.auth.load_credentials_from_file with
the cloud-platform scope), refreshes the credentials with google.auth.transport.requests
(the token exchange at the file's token_url) and prints one JSON line on stdout:

    {"access_token": ..., "expiry": ..., "google_auth": VERSION}

With --gemini-base-url it then hands the same credentials to google-genai in Vertex mode
(genai.Client(vertexai=True, project=..., location=..., credentials=...,
http_options={"base_url": URL})), calls models.generate_content, and adds
"google_genai": VERSION and "gemini_text": the response text to that line.

A failure goes to stderr as one JSON line ({"error": type, "message": ...}) with exit status 1.

The script lets the process reach loopback addresses only: a Python audit hook refuses any
other name lookup or connection (it does not touch the libraries), so a library that quietly
called Google (its STS, the metadata server) fails the run instead of leaving the machine.
"""
import argparse
import ipaddress
import json
import sys

CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
LOOPBACK_NAMES = {"localhost"}


def _is_loopback(host):
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _loopback_only(event, args):
    if event == "socket.getaddrinfo":
        host = args[0]
    elif event == "socket.connect":
        address = args[1]
        if not isinstance(address, tuple):  # AF_UNIX and the like: not the network
            return
        host = address[0]
    else:
        return
    if host is not None and not _is_loopback(host):
        raise PermissionError(f"loopback only: {event} to {host!r} refused by the test harness")


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("credentials_file")
    parser.add_argument("--gemini-base-url")
    parser.add_argument("--project", default="acme-prod")
    parser.add_argument("--location", default="us-central1")
    parser.add_argument("--model", default="gemini-2.5-flash")
    parser.add_argument("--prompt", default="Say hello")
    options = parser.parse_args(argv)

    sys.addaudithook(_loopback_only)

    import google.auth
    import google.auth.transport.requests
    from google.auth import __version__ as google_auth_version

    try:
        credentials, _ = google.auth.load_credentials_from_file(options.credentials_file, scopes=[CLOUD_PLATFORM])
        credentials.refresh(google.auth.transport.requests.Request())
        result = {
            "access_token": credentials.token,
            "expiry": credentials.expiry.isoformat() if credentials.expiry else None,
            "credentials_class": f"{type(credentials).__module__}.{type(credentials).__name__}",
            "google_auth": google_auth_version,
        }
        if options.gemini_base_url:
            from google import genai
            client = genai.Client(
                vertexai=True,
                project=options.project,
                location=options.location,
                credentials=credentials,
                http_options={"base_url": options.gemini_base_url},
            )
            response = client.models.generate_content(model=options.model, contents=options.prompt)
            result["google_genai"] = genai.__version__
            result["gemini_text"] = response.text
            # What genai sent is what the credentials hold (it refreshes them if they expired).
            result["access_token_after_gemini"] = credentials.token
    except Exception as error:  # noqa: BLE001 - report every failure the same way
        print(json.dumps({"error": f"{type(error).__module__}.{type(error).__name__}", "message": str(error)}), file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
