output "perimeter_name" {
  description = "Full resource name of the perimeter (accessPolicies/P/servicePerimeters/NAME)."
  value       = google_access_context_manager_service_perimeter.this.name
}

output "dry_run" {
  description = "true while the configuration is only a dry-run spec (violations logged, nothing blocked)."
  value       = var.dry_run
}

output "resources" {
  description = "Projects inside the perimeter."
  value       = local.resources
}

output "restricted_services" {
  description = "Services the perimeter restricts (dry run or enforced, see dry_run)."
  value       = var.restricted_services
}

output "ingress_policy_titles" {
  description = "Titles of the ingress rules the perimeter carries, in order."
  value       = [for p in local.ingress_policies : p.title]
}
