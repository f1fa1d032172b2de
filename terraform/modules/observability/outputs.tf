output "log_name" {
  description = "Full name of the audit log the metrics and the sink read."
  value       = local.log_name
}

output "metric_types" {
  description = "Cloud Monitoring metric types of the log-based metrics, by short name (denials, upstream_failures, issued, and the dashboard's: exchanges, upstream_mints, upstream_latency, rate_limited, deny_list_hits, shadow_decisions, introspections, user_sessions)."
  value = merge(local.dashboard_vars.metrics, {
    denials           = "${local.user_metric_type}/${google_logging_metric.denials.name}"
    upstream_failures = "${local.user_metric_type}/${google_logging_metric.upstream_failures.name}"
    issued            = "${local.user_metric_type}/${google_logging_metric.issued.name}"
  })
}

output "alert_policy_name" {
  description = "Resource name of the invalid_grant alert policy, or null when enable_alert is false."
  value       = one(google_monitoring_alert_policy.invalid_grant_spike[*].name)
}

output "alert_policy_names" {
  description = "Resource names of every alert policy of the module, by short name (invalid_grant_spike, refusal_spike, upstream_error_rate, deny_list_hit); null for one that is turned off."
  value = {
    invalid_grant_spike = one(google_monitoring_alert_policy.invalid_grant_spike[*].name)
    refusal_spike       = one(google_monitoring_alert_policy.refusal_spike[*].name)
    upstream_error_rate = one(google_monitoring_alert_policy.upstream_error_rate[*].name)
    deny_list_hit       = one(google_monitoring_alert_policy.deny_list_hit[*].name)
  }
}

output "dashboard_id" {
  description = "Id of the Cloud Monitoring dashboard (projects/NUMBER/dashboards/ID), or null when enable_dashboard is false."
  value       = one(google_monitoring_dashboard.broker[*].id)
}

output "audit_config_services" {
  description = "Services whose data-access audit logs this module turned on."
  value       = sort(keys(google_project_iam_audit_config.token_services))
}

output "sink_writer_identity" {
  description = "Writer identity of the audit log sink (grant it access to a destination in another project yourself when grant_sink_writer does not cover it), or null without a sink."
  value       = one(google_logging_project_sink.audit[*].writer_identity)
}
