# A Cloud Monitoring dashboard over the log-based metrics (metrics.tf and main.tf). The layout
# is dashboard.json.tftpl; each panel is described in the README.

locals {
  # Everything the template reads. The test suite renders the template with these (metric
  # names resolved, variables at their defaults) and checks it is JSON naming only these metrics.
  dashboard_vars = {
    display_name = var.dashboard_display_name
    top_n        = var.dashboard_top_n
    metrics = {
      exchanges        = "${local.user_metric_type}/${google_logging_metric.exchanges.name}"
      upstream_mints   = "${local.user_metric_type}/${google_logging_metric.upstream_mints.name}"
      upstream_latency = "${local.user_metric_type}/${google_logging_metric.upstream_latency.name}"
      rate_limited     = "${local.user_metric_type}/${google_logging_metric.rate_limited.name}"
      deny_list_hits   = "${local.user_metric_type}/${google_logging_metric.deny_list_hits.name}"
      shadow_decisions = "${local.user_metric_type}/${google_logging_metric.shadow_decisions.name}"
      introspections   = "${local.user_metric_type}/${google_logging_metric.introspections.name}"
      user_sessions    = "${local.user_metric_type}/${google_logging_metric.user_sessions.name}"
    }
  }
}

resource "google_monitoring_dashboard" "broker" {
  count = var.enable_dashboard ? 1 : 0

  project        = var.project_id
  dashboard_json = templatefile("${path.module}/dashboard.json.tftpl", local.dashboard_vars)
}
