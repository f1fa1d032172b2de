output "broker_url" {
  description = "The broker's URL: the audience workflows request from GitHub (BROKER_URL in the workflow)."
  value       = module.broker.issuer_url
}

output "token_endpoint" {
  description = "Where workflows post the exchange."
  value       = module.broker.token_endpoint
}

output "gemini_service_account_email" {
  description = "The service account whose tokens workflows receive."
  value       = module.broker.target_service_account_emails[local.gemini_account_id]
}

output "policy_rules" {
  description = "Rule ids a workflow may name as the exchange's `audience`."
  value       = [for r in yamldecode(local.policy_yaml).rules : r.id]
}

output "workload_identity_provider" {
  description = "For google-github-actions/auth in the deploying repository (null without deployer)."
  value       = try(module.federation[0].provider_names["github"], null)
}
