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

output "vertex_generate_content_url" {
  description = "A Vertex AI generateContent URL the page can call with the token (model gemini-2.5-flash)."
  value       = "https://${var.region}-aiplatform.googleapis.com/v1/projects/${var.project_id}/locations/${var.region}/publishers/google/models/gemini-2.5-flash:generateContent"
}
