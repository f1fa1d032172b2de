output "broker_url" {
  description = "The broker's URL."
  value       = module.broker.issuer_url
}

output "token_endpoint" {
  description = "Where the page posts the token exchange."
  value       = module.broker.token_endpoint
}

output "web_service_account_email" {
  description = "The service account whose tokens signed-in users receive."
  value       = module.broker.target_service_account_emails[local.web_account_id]
}

output "web_app_client_secret_refs" {
  description = "Web app id => the secret version the broker reads its OAuth client secret from (the policy's web_apps[].client_secret_ref). Add each value with `gcloud secrets versions add SECRET_ID --data-file=-`."
  value       = module.broker.web_app_client_secret_refs
}

output "vertex_generate_content_url" {
  description = "A Vertex AI generateContent URL the page can call with the token (model gemini-2.5-flash)."
  value       = "https://${var.region}-aiplatform.googleapis.com/v1/projects/${var.project_id}/locations/${var.region}/publishers/google/models/gemini-2.5-flash:generateContent"
}
