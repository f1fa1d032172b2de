output "log_name" {
  description = "Full name of the audit log the metrics and the sink read."
  value       = local.log_name
}

output "metric_types" {
  description = "Cloud Monitoring metric types of the log-based metrics, by short name (denials, upstream_failures, issued)."
  value = {
    denials           = "${local.user_metric_type}/${google_logging_metric.denials.name}"
    upstream_failures = "${local.user_metric_type}/${google_logging_metric.upstream_failures.name}"
    issued            = "${local.user_metric_type}/${google_logging_metric.issued.name}"
  }
}

output "alert_policy_name" {
  description = "Resource name of the invalid_grant alert policy, or null when enable_alert is false."
  value       = one(google_monitoring_alert_policy.invalid_grant_spike[*].name)
}

output "audit_config_services" {
  description = "Services whose data-access audit logs this module turned on."
  value       = sort(keys(google_project_iam_audit_config.token_services))
}

output "sink_writer_identity" {
  description = "Writer identity of the audit log sink (grant it access to a destination in another project yourself when grant_sink_writer does not cover it), or null without a sink."
  value       = one(google_logging_project_sink.audit[*].writer_identity)
}
