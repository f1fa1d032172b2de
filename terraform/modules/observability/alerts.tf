# Alert policies on the metrics of metrics.tf (the invalid_grant alert is in main.tf). All of
# them notify var.notification_channels.

locals {
  exchanges_type      = "${local.user_metric_type}/${google_logging_metric.exchanges.name}"
  upstream_mints_type = "${local.user_metric_type}/${google_logging_metric.upstream_mints.name}"
  deny_list_hits_type = "${local.user_metric_type}/${google_logging_metric.deny_list_hits.name}"
}

# A surge of refusals of any kind: a misconfigured client retrying, a policy change that locked
# callers out, or someone probing.
resource "google_monitoring_alert_policy" "refusal_spike" {
  count = var.enable_refusal_spike_alert ? 1 : 0

  project               = var.project_id
  display_name          = "Token broker: spike of refused token requests"
  combiner              = "OR"
  severity              = var.alert_severity
  notification_channels = var.notification_channels

  conditions {
    display_name = "denied token requests > ${var.refusal_spike_threshold} per ${var.refusal_spike_window}"

    condition_threshold {
      filter                  = "metric.type=\"${local.exchanges_type}\" AND resource.type=\"${var.monitored_resource_type}\" AND metric.label.outcome=\"denied\""
      comparison              = "COMPARISON_GT"
      threshold_value         = var.refusal_spike_threshold
      duration                = var.refusal_spike_duration
      evaluation_missing_data = "EVALUATION_MISSING_DATA_INACTIVE"

      aggregations {
        alignment_period     = var.refusal_spike_window
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
    subject   = "Token broker: refusal spike"
    content   = <<-EOT
      More than ${var.refusal_spike_threshold} token requests were denied within ${var.refusal_spike_window}.
      Look at the dashboard's "Refusals by reason" panel, or in Logs Explorer:

      ```
      ${local.log_filter}
      jsonPayload.event="token_exchange" AND jsonPayload.outcome="denied"
      ```

      and summarize on `jsonPayload.error.reason`, `jsonPayload.client.id`, `jsonPayload.principal.subject`
      and `httpRequest.remoteIp`. One reason from one caller is usually a broken client or a policy change
      (compare `jsonPayload.policy.version` with the last `policy_loaded` entry); many subjects or addresses
      with `invalid_grant` reasons look like probing.
    EOT
  }

  depends_on = [google_logging_metric.exchanges]
}

# IAM Credentials failing to mint: the broker cannot hand out fresh tokens (cached ones are still
# served until they expire).
resource "google_monitoring_alert_policy" "upstream_error_rate" {
  count = var.enable_upstream_error_alert ? 1 : 0

  project               = var.project_id
  display_name          = "Token broker: upstream (IAM Credentials) error rate"
  combiner              = "AND"
  severity              = var.alert_severity
  notification_channels = var.notification_channels

  conditions {
    display_name = "failed mints / all mints > ${var.upstream_error_ratio} over ${var.upstream_error_window}"

    condition_threshold {
      filter                  = "metric.type=\"${local.upstream_mints_type}\" AND resource.type=\"${var.monitored_resource_type}\" AND metric.label.outcome=\"failure\""
      denominator_filter      = "metric.type=\"${local.upstream_mints_type}\" AND resource.type=\"${var.monitored_resource_type}\""
      comparison              = "COMPARISON_GT"
      threshold_value         = var.upstream_error_ratio
      duration                = var.upstream_error_duration
      evaluation_missing_data = "EVALUATION_MISSING_DATA_INACTIVE"

      aggregations {
        alignment_period     = var.upstream_error_window
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_SUM"
      }

      denominator_aggregations {
        alignment_period     = var.upstream_error_window
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_SUM"
      }

      trigger {
        count = 1
      }
    }
  }

  # The ratio alone would page on one failure out of two mints at night.
  conditions {
    display_name = "at least ${var.upstream_error_min_failures} failed mints per ${var.upstream_error_window}"

    condition_threshold {
      filter                  = "metric.type=\"${local.upstream_mints_type}\" AND resource.type=\"${var.monitored_resource_type}\" AND metric.label.outcome=\"failure\""
      comparison              = "COMPARISON_GT"
      threshold_value         = var.upstream_error_min_failures - 1
      duration                = var.upstream_error_duration
      evaluation_missing_data = "EVALUATION_MISSING_DATA_INACTIVE"

      aggregations {
        alignment_period     = var.upstream_error_window
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
    subject   = "Token broker: upstream error rate"
    content   = <<-EOT
      More than ${var.upstream_error_ratio * 100}% of the broker's IAM Credentials mints failed within ${var.upstream_error_window}
      (and at least ${var.upstream_error_min_failures} of them). Callers get `503 temporarily_unavailable` or
      `500 server_error` (`upstream_refused`) for anything not already cached.

      ```
      ${local.log_filter}
      jsonPayload.event="upstream_mint" AND jsonPayload.outcome="failure"
      ```

      Summarize on `jsonPayload.serviceAccount` and read `jsonPayload.error`: `PERMISSION_DENIED` for one
      account is a missing Token Creator grant or a deleted/disabled service account; `UNAVAILABLE` or
      timeouts across all accounts is an IAM incident (check the Google Cloud status page and the
      `upstream_circuit` entries).
    EOT
  }

  depends_on = [google_logging_metric.upstream_mints]
}

# Someone on the operator's deny-list is still trying: every hit matters.
resource "google_monitoring_alert_policy" "deny_list_hit" {
  count = var.enable_deny_list_alert ? 1 : 0

  project               = var.project_id
  display_name          = "Token broker: request from a denied caller (denied_by_operator)"
  combiner              = "OR"
  severity              = var.alert_severity
  notification_channels = var.notification_channels

  conditions {
    display_name = "any denied_by_operator refusal"

    condition_threshold {
      filter                  = "metric.type=\"${local.deny_list_hits_type}\" AND resource.type=\"${var.monitored_resource_type}\""
      comparison              = "COMPARISON_GT"
      threshold_value         = 0
      duration                = "0s"
      evaluation_missing_data = "EVALUATION_MISSING_DATA_INACTIVE"

      # One incident per deny-list entry.
      aggregations {
        alignment_period     = "60s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["metric.label.entry"]
      }

      trigger {
        count = 1
      }
    }
  }

  alert_strategy {
    auto_close = "3600s"
  }

  documentation {
    mime_type = "text/markdown"
    subject   = "Token broker: denied caller (deny-list entry $${metric.label.entry})"
    content   = <<-EOT
      A token request matched deny-list entry `$${metric.label.entry}` and was refused
      (`403 access_denied`, reason `denied_by_operator`). The refusal worked; the alert says that a
      caller an operator blocked is still trying.

      ```
      ${local.log_filter}
      jsonPayload.event="token_exchange" AND jsonPayload.error.reason="denied_by_operator"
      ```

      `jsonPayload.error.detail` names the entry, `jsonPayload.principal`, `jsonPayload.client` and
      `httpRequest.remoteIp` say who and from where. If the caller is a compromised workload, find
      where its credential is still used; if the entry is obsolete, remove it (`deny_removed`).
    EOT
  }

  depends_on = [google_logging_metric.deny_list_hits]
}
