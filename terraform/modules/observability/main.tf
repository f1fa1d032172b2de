/**
 * Audit logs, log-based metrics, an alert and an optional sink over the broker's audit trail
 * (docs/audit.md, "Metrics and alerts").
 */

locals {
  log_name   = "projects/${var.project_id}/logs/${var.log_id}"
  log_filter = "logName=\"${local.log_name}\""

  audit_log_types = ["ADMIN_READ", "DATA_READ", "DATA_WRITE"]

  sink_enabled = var.sink_destination != null
  sink_kind = !local.sink_enabled ? "none" : (
    startswith(var.sink_destination, "storage.googleapis.com/") ? "storage" : (
      startswith(var.sink_destination, "bigquery.googleapis.com/") ? "bigquery" : "logging"
    )
  )
  sink_bucket      = local.sink_kind == "storage" ? trimprefix(var.sink_destination, "storage.googleapis.com/") : null
  sink_bq_project  = local.sink_kind == "bigquery" ? regex("^bigquery\\.googleapis\\.com/projects/([^/]+)/datasets/([^/]+)$", var.sink_destination)[0] : null
  sink_bq_dataset  = local.sink_kind == "bigquery" ? regex("^bigquery\\.googleapis\\.com/projects/([^/]+)/datasets/([^/]+)$", var.sink_destination)[1] : null
  denials_metric   = "token_broker/denials"
  upstream_metric  = "token_broker/upstream_failures"
  issued_metric    = "token_broker/issued"
  user_metric_type = "logging.googleapis.com/user"
}

# Google's own record of every token minted or exchanged (IAM Credentials generateAccessToken,
# STS token exchange): the other half of the broker's audit trail.
resource "google_project_iam_audit_config" "token_services" {
  for_each = var.enable_data_access_audit_logs ? toset(var.audit_log_services) : toset([])

  project = var.project_id
  service = each.value

  dynamic "audit_log_config" {
    for_each = local.audit_log_types
    content {
      log_type         = audit_log_config.value
      exempted_members = var.audit_exempted_members
    }
  }
}

resource "google_logging_metric" "denials" {
  project     = var.project_id
  name        = local.denials_metric
  description = "Token requests the broker denied (outcome denied), by OAuth error code and machine reason."
  filter      = "${local.log_filter} AND jsonPayload.event=\"token_exchange\" AND jsonPayload.outcome=\"denied\""

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "Token broker denials"

    labels {
      key         = "code"
      value_type  = "STRING"
      description = "RFC 6749 error code sent to the caller (invalid_grant, access_denied, invalid_scope, ...)."
    }
    labels {
      key         = "reason"
      value_type  = "STRING"
      description = "Stable machine reason (token_expired, audience_mismatch, no_rule_matched, ...)."
    }
  }

  label_extractors = {
    code   = "EXTRACT(jsonPayload.error.code)"
    reason = "EXTRACT(jsonPayload.error.reason)"
  }
}

resource "google_logging_metric" "upstream_failures" {
  project     = var.project_id
  name        = local.upstream_metric
  description = "Token requests that failed upstream (outcome upstream_failure) and failed IAM Credentials mints (upstream_mint with outcome failure), including background refreshes."
  filter      = "${local.log_filter} AND (jsonPayload.outcome=\"upstream_failure\" OR (jsonPayload.event=\"upstream_mint\" AND jsonPayload.outcome=\"failure\"))"

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "Token broker upstream failures"
  }
}

resource "google_logging_metric" "issued" {
  project     = var.project_id
  name        = local.issued_metric
  description = "Tokens the broker issued, by the trust-policy rule that matched."
  filter      = "${local.log_filter} AND jsonPayload.event=\"token_exchange\" AND jsonPayload.outcome=\"issued\""

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "Token broker tokens issued"

    labels {
      key         = "rule"
      value_type  = "STRING"
      description = "Id of the trust-policy rule that matched."
    }
  }

  label_extractors = {
    rule = "EXTRACT(jsonPayload.policy.ruleId)"
  }
}

# A spike of failed authentications: forged, replayed, expired or misdirected subject tokens.
resource "google_monitoring_alert_policy" "invalid_grant_spike" {
  count = var.enable_alert ? 1 : 0

  project               = var.project_id
  display_name          = "Token broker: spike of invalid_grant denials"
  combiner              = "OR"
  severity              = var.alert_severity
  notification_channels = var.notification_channels

  conditions {
    display_name = "invalid_grant denials > ${var.invalid_grant_threshold} per ${var.invalid_grant_window}"

    condition_threshold {
      filter                  = "metric.type=\"${local.user_metric_type}/${google_logging_metric.denials.name}\" AND resource.type=\"${var.monitored_resource_type}\" AND metric.label.code=\"invalid_grant\""
      comparison              = "COMPARISON_GT"
      threshold_value         = var.invalid_grant_threshold
      duration                = var.invalid_grant_duration
      evaluation_missing_data = "EVALUATION_MISSING_DATA_INACTIVE"

      aggregations {
        alignment_period     = var.invalid_grant_window
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_SUM"
      }

      trigger {
        count = 1
      }
    }
  }

  alert_strategy {
    auto_close = "1800s"
  }

  documentation {
    mime_type = "text/markdown"
    subject   = "Token broker: invalid_grant spike"
    content   = <<-EOT
      More than ${var.invalid_grant_threshold} token requests were denied with `invalid_grant` within ${var.invalid_grant_window}.
      Someone may be presenting forged, replayed, expired or misdirected subject tokens, or a client's issuer or audience changed.

      Break the denials down by reason in Logs Explorer:

      ```
      ${local.log_filter}
      jsonPayload.event="token_exchange" AND jsonPayload.error.code="invalid_grant"
      ```

      and summarize on `jsonPayload.error.reason`, `jsonPayload.principal.issuer` and `httpRequest.remoteIp`.
    EOT
  }

  depends_on = [google_logging_metric.denials]
}

resource "google_logging_project_sink" "audit" {
  count = local.sink_enabled ? 1 : 0

  project                = var.project_id
  name                   = var.sink_name
  description            = "Copies the token broker's audit log (${local.log_name}) for long-term retention."
  destination            = var.sink_destination
  filter                 = local.log_filter
  unique_writer_identity = true

  dynamic "bigquery_options" {
    for_each = local.sink_kind == "bigquery" ? [1] : []
    content {
      use_partitioned_tables = true
    }
  }
}

resource "google_storage_bucket_iam_member" "sink_writer" {
  count = local.sink_kind == "storage" && var.grant_sink_writer ? 1 : 0

  bucket = local.sink_bucket
  role   = "roles/storage.objectCreator"
  member = google_logging_project_sink.audit[0].writer_identity
}

resource "google_bigquery_dataset_iam_member" "sink_writer" {
  count = local.sink_kind == "bigquery" && var.grant_sink_writer ? 1 : 0

  project    = local.sink_bq_project
  dataset_id = local.sink_bq_dataset
  role       = "roles/bigquery.dataEditor"
  member     = google_logging_project_sink.audit[0].writer_identity
}
