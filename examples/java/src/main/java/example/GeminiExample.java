package example;

import com.google.api.client.json.GenericJson;
import com.google.api.client.json.gson.GsonFactory;
import com.google.auth.oauth2.GoogleCredentials;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Calls Gemini (Vertex AI) with a token from the token broker.
 *
 * <pre>
 * java example.GeminiExample [--credentials FILE] [--project P] [--location L] [--model M]
 *                            [--gemini-base-url URL] [--prompt TEXT]
 * </pre>
 *
 * <p>FILE is an external_account credential file whose token_url is the broker (written by {@code
 * npm run -s admin -- external-account ...}); without --credentials, GOOGLE_APPLICATION_CREDENTIALS.
 * google-auth-library-java ({@code IdentityPoolCredentials}, which {@code GoogleCredentials.fromStream}
 * returns for such a file) reads the workload's OIDC token from the file's credential_source,
 * exchanges it at the broker (RFC 8693) and refreshes it when it expires; the program sends it to
 * Vertex AI's REST generateContent as its Bearer token. No broker code, no key.
 *
 * <p>Needs google-auth-library-oauth2-http 0.24 or later (external_account), and a token_url over
 * https: the library refuses any other scheme ("The provided token URL is invalid."), so a
 * development broker on plain http needs a TLS front (examples/README.md, Java).
 *
 * <p>--gemini-base-url sends the request to another endpoint (a local Gemini emulator); without
 * it, the real Vertex AI endpoint of --location. Prints the model's answer on stdout.
 */
public final class GeminiExample {
  private static final String CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform";

  public static void main(String[] args) throws Exception {
    Map<String, String> options = parse(args);
    String credentialsFile = options.getOrDefault("credentials", System.getenv("GOOGLE_APPLICATION_CREDENTIALS"));
    String project = options.getOrDefault("project", System.getenv("GOOGLE_CLOUD_PROJECT"));
    String location = options.getOrDefault("location", envOr("GOOGLE_CLOUD_LOCATION", "us-central1"));
    String model = options.getOrDefault("model", "gemini-2.5-flash");
    String baseUrl = options.getOrDefault("gemini-base-url", envOr("GEMINI_BASE_URL", "https://" + location + "-aiplatform.googleapis.com"));
    String prompt = options.getOrDefault("prompt", "Say hello");
    if (credentialsFile == null || project == null) {
      System.err.println("usage: GeminiExample --credentials FILE --project P (or GOOGLE_APPLICATION_CREDENTIALS, GOOGLE_CLOUD_PROJECT)");
      System.exit(2);
    }
    try {
      System.out.println(run(credentialsFile, project, location, model, baseUrl.replaceAll("/+$", ""), prompt));
    } catch (IOException | RuntimeException e) {
      System.err.println("error: " + e);
      System.exit(1);
    }
  }

  static String run(String credentialsFile, String project, String location, String model, String baseUrl, String prompt)
      throws IOException, InterruptedException {
    // The broker's answer is already the service account's token: the file has no
    // service_account_impersonation_url, and the rule must allow the scope asked for here.
    GoogleCredentials credentials;
    try (InputStream in = new FileInputStream(credentialsFile)) {
      credentials = GoogleCredentials.fromStream(in).createScoped(List.of(CLOUD_PLATFORM));
    }
    credentials.refreshIfExpired(); // the exchange at the broker; again whenever the token expires
    String token = credentials.getAccessToken().getTokenValue();

    String endpoint = String.format("%s/v1/projects/%s/locations/%s/publishers/google/models/%s:generateContent",
        baseUrl, encode(project), encode(location), encode(model));
    GenericJson body = new GenericJson();
    body.setFactory(GsonFactory.getDefaultInstance());
    body.put("contents", List.of(Map.of("role", "user", "parts", List.of(Map.of("text", prompt)))));
    HttpRequest request = HttpRequest.newBuilder(URI.create(endpoint))
        .timeout(Duration.ofSeconds(60))
        .header("Authorization", "Bearer " + token)
        .header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString(body.toString()))
        .build();
    HttpResponse<String> response = HttpClient.newHttpClient().send(request, HttpResponse.BodyHandlers.ofString());
    if (response.statusCode() != 200) {
      throw new IOException("generateContent: HTTP " + response.statusCode() + ": " + response.body());
    }
    GenericJson answer = GsonFactory.getDefaultInstance().fromString(response.body(), GenericJson.class);
    StringBuilder text = new StringBuilder();
    List<?> candidates = (List<?>) answer.get("candidates");
    if (candidates != null && !candidates.isEmpty()) {
      Map<?, ?> content = (Map<?, ?>) ((Map<?, ?>) candidates.get(0)).get("content");
      for (Object part : (List<?>) content.get("parts")) {
        Object partText = ((Map<?, ?>) part).get("text");
        if (partText != null) text.append(partText);
      }
    }
    return text.toString();
  }

  private static String encode(String segment) {
    return URLEncoder.encode(segment, StandardCharsets.UTF_8).replace("+", "%20");
  }

  private static String envOr(String name, String fallback) {
    String value = System.getenv(name);
    return value == null || value.isEmpty() ? fallback : value;
  }

  private static Map<String, String> parse(String[] args) {
    Map<String, String> options = new HashMap<>();
    for (int i = 0; i < args.length; i++) {
      if (!args[i].startsWith("--") || i + 1 >= args.length) {
        throw new IllegalArgumentException("expected --name value, got " + args[i]);
      }
      options.put(args[i].substring(2), args[++i]);
    }
    return options;
  }
}
