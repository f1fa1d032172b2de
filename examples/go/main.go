// Command gemini calls Gemini (Vertex AI) with a token from the token broker.
//
//	go run . [-credentials FILE] [-project P] [-location L] [-model M] [-gemini-base-url URL] [-prompt TEXT]
//
// FILE is an external_account credential file whose token_url is the broker (written by
// `npm run -s admin -- external-account ...`); without -credentials, GOOGLE_APPLICATION_CREDENTIALS.
// golang.org/x/oauth2/google reads the workload's OIDC token from the file's credential_source,
// exchanges it at the broker (RFC 8693) and repeats the exchange when the token expires; the
// program sends it to Vertex AI's REST generateContent as its Bearer token. No broker code, no key.
//
// -gemini-base-url sends the request to another endpoint (a local Gemini emulator); without it,
// the real Vertex AI endpoint of -location. Prints the model's answer on stdout.
//
// Needs golang.org/x/oauth2 v0.35.0 or later (CredentialsFromJSONWithType came in v0.35.0). Versions
// before v0.6.0 accept only https://*.sts.googleapis.com as token_url and refuse the broker
// ("invalid TokenURL provided while constructing tokenSource"); v0.6.0 to v0.34 work with
// google.CredentialsFromJSON in its place.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
)

const cloudPlatform = "https://www.googleapis.com/auth/cloud-platform"

func main() {
	credentials := flag.String("credentials", os.Getenv("GOOGLE_APPLICATION_CREDENTIALS"), "external_account credential file")
	project := flag.String("project", os.Getenv("GOOGLE_CLOUD_PROJECT"), "Google Cloud project")
	location := flag.String("location", envOr("GOOGLE_CLOUD_LOCATION", "us-central1"), "Vertex AI location")
	model := flag.String("model", "gemini-2.5-flash", "Gemini model")
	baseURL := flag.String("gemini-base-url", os.Getenv("GEMINI_BASE_URL"), "Vertex AI base URL (default: https://LOCATION-aiplatform.googleapis.com)")
	prompt := flag.String("prompt", "Say hello", "prompt")
	flag.Parse()
	if *credentials == "" || *project == "" {
		fmt.Fprintln(os.Stderr, "usage: gemini -credentials FILE -project P (or GOOGLE_APPLICATION_CREDENTIALS, GOOGLE_CLOUD_PROJECT)")
		os.Exit(2)
	}
	if *baseURL == "" {
		*baseURL = fmt.Sprintf("https://%s-aiplatform.googleapis.com", *location)
	}
	text, err := run(*credentials, *project, *location, *model, strings.TrimRight(*baseURL, "/"), *prompt)
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
	fmt.Println(text)
}

func run(credentialsFile, project, location, model, baseURL, prompt string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	data, err := os.ReadFile(credentialsFile)
	if err != nil {
		return "", err
	}
	// The broker's answer is already the service account's token: the file has no
	// service_account_impersonation_url, and the rule must allow the scope asked for here.
	// WithType makes the library refuse any file that is not an external_account file.
	creds, err := google.CredentialsFromJSONWithType(ctx, data, google.ExternalAccount, cloudPlatform)
	if err != nil {
		return "", fmt.Errorf("loading %s: %w", credentialsFile, err)
	}
	client := oauth2.NewClient(ctx, creds.TokenSource) // exchanges at the broker on first use

	endpoint := fmt.Sprintf("%s/v1/projects/%s/locations/%s/publishers/google/models/%s:generateContent",
		baseURL, url.PathEscape(project), url.PathEscape(location), url.PathEscape(model))
	body, _ := json.Marshal(map[string]any{
		"contents": []map[string]any{{"role": "user", "parts": []map[string]string{{"text": prompt}}}},
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return "", err // a failed exchange at the broker surfaces here, with the broker's error
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("generateContent: %s: %s", resp.Status, raw)
	}
	var answer struct {
		Candidates []struct {
			Content struct {
				Parts []struct {
					Text string `json:"text"`
				} `json:"parts"`
			} `json:"content"`
		} `json:"candidates"`
	}
	if err := json.Unmarshal(raw, &answer); err != nil {
		return "", fmt.Errorf("generateContent: %w", err)
	}
	var text strings.Builder
	if len(answer.Candidates) > 0 {
		for _, part := range answer.Candidates[0].Content.Parts {
			text.WriteString(part.Text)
		}
	}
	return text.String(), nil
}

func envOr(name, fallback string) string {
	if value := os.Getenv(name); value != "" {
		return value
	}
	return fallback
}
