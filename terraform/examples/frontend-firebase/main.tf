locals {
  name = "token-broker"
  # The function's deterministic URL, known before apply (BROKER_ISSUER_URL).
  broker_url          = "https://${var.region}-${var.project_id}.cloudfunctions.net/${local.name}"
  firebase_project_id = coalesce(var.firebase_project_id, var.project_id)

  web_account_id = "web-gemini"
  # Built, not read from the resource: module for_each keys must be known at plan time.
  predict_role_id = "projects/${var.project_id}/roles/tokenBrokerGeminiPredict"

  policy_yaml = templatefile("${path.module}/policy.yaml.tftpl", {
    firebase_project_id = local.firebase_project_id
    sign_in_providers   = var.sign_in_providers
    requests_per_minute = var.limits_per_user.requests_per_minute
    tokens_per_day      = var.limits_per_user.tokens_per_day
    service_account     = "${local.web_account_id}@${var.project_id}.iam.gserviceaccount.com"
    allowed_origins     = var.allowed_origins
  })
}

# Browser users get tokens anyone on the page can copy: give them the one permission that
# calling a model needs, not roles/aiplatform.user (which also creates and deletes Vertex AI
# resources).
resource "google_project_iam_custom_role" "gemini_predict" {
  project     = var.project_id
  role_id     = "tokenBrokerGeminiPredict"
  title       = "token-broker: Gemini predict only"
  description = "generateContent / streamGenerateContent on Vertex AI models, nothing else."
  permissions = ["aiplatform.endpoints.predict"]
}

module "broker" {
  source = "../../modules/broker"

  project_id = var.project_id
  region     = var.region
  name       = local.name
  issuer_url = local.broker_url

  source_archive_path   = var.source_archive_path
  source_archive_sha256 = filesha256(var.source_archive_path)

  # Browsers call from the internet. Put an external Application Load Balancer (with Cloud
  # Armor) in front and keep ALLOW_INTERNAL_AND_GCLB if you want edge rate limiting too.
  ingress_settings                  = "ALLOW_ALL"
  allow_unauthenticated_invocations = true

  # Many users, each needing one mint per 5 minutes at most: keep a warm instance.
  function_config = {
    min_instance_count = 1
    max_instance_count = 20
  }

  policy_yaml = local.policy_yaml

  # One empty secret per web app for its OAuth client secret, readable by the broker only.
  web_apps = var.web_apps

  target_service_accounts = {
    (local.web_account_id) = {
      display_name = "Web app users: Gemini predict"
      description  = "Tokens for signed-in Firebase users of the web app, minted by the token broker."
      roles        = [local.predict_role_id]
    }
  }

  depends_on = [google_project_iam_custom_role.gemini_predict]
}
