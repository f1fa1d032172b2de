variable "project_id" {
  description = "Id of the project the broker function runs in (where its audit log is written, and where metrics, alerts and the sink are created)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a project id (6-30 lowercase letters, digits and hyphens), not a number."
  }
}

variable "log_id" {
  description = "Log id of the broker's audit entries (logName projects/PROJECT/logs/LOG_ID). The broker writes token-broker-audit; change it only if you changed the broker."
  type        = string
  default     = "token-broker-audit"

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]{1,512}$", var.log_id))
    error_message = "log_id must be a plain log id (letters, digits, '_', '-', '.'), not URL-encoded."
  }
}

variable "enable_data_access_audit_logs" {
  description = "Turn on DATA_READ, DATA_WRITE and ADMIN_READ audit logs for iamcredentials.googleapis.com and sts.googleapis.com, so every token Google mints for the broker is recorded by Google as well. google_project_iam_audit_config is authoritative per service: it replaces any other audit config of these two services in the project."
  type        = bool
  default     = true
}

variable "audit_log_services" {
  description = "Services whose data-access audit logs are turned on."
  type        = list(string)
  default     = ["iamcredentials.googleapis.com", "sts.googleapis.com"]

  validation {
    condition     = contains(var.audit_log_services, "iamcredentials.googleapis.com") && contains(var.audit_log_services, "sts.googleapis.com")
    error_message = "audit_log_services must include iamcredentials.googleapis.com and sts.googleapis.com."
  }

  validation {
    condition     = !contains(var.audit_log_services, "allServices")
    error_message = "allServices is refused here: it would replace the project's audit configuration for every service."
  }
}

variable "audit_exempted_members" {
  description = "Principals exempted from the data-access audit logs (e.g. a noisy monitoring account). Never exempt the broker's runtime service account."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for m in var.audit_exempted_members : can(regex("^(serviceAccount|user|group|domain|principal|principalSet):.+$", m))])
    error_message = "audit_exempted_members must be IAM principals such as user:alice@example.com."
  }
}

variable "monitored_resource_type" {
  description = "Monitored resource type the broker's log entries carry, used in the alert filter. Cloud Functions 2nd gen runs on Cloud Run: cloud_run_revision."
  type        = string
  default     = "cloud_run_revision"

  validation {
    condition     = contains(["cloud_run_revision", "cloud_function"], var.monitored_resource_type)
    error_message = "monitored_resource_type must be cloud_run_revision (2nd gen) or cloud_function (1st gen)."
  }
}

variable "invalid_grant_threshold" {
  description = "Alert when more than this many token requests are denied with invalid_grant within one invalid_grant_window (all reasons and instances summed)."
  type        = number
  default     = 50

  validation {
    condition     = var.invalid_grant_threshold > 0
    error_message = "invalid_grant_threshold must be positive: 0 would page on every single failed authentication."
  }
}

variable "invalid_grant_window" {
  description = "Window over which invalid_grant denials are counted (the alert's alignment period), e.g. \"300s\"."
  type        = string
  default     = "300s"

  validation {
    condition     = can(regex("^[0-9]+s$", var.invalid_grant_window)) && try(tonumber(trimsuffix(var.invalid_grant_window, "s")) >= 60 && tonumber(trimsuffix(var.invalid_grant_window, "s")) <= 86400, false)
    error_message = "invalid_grant_window must be between \"60s\" and \"86400s\"."
  }
}

variable "invalid_grant_duration" {
  description = "How long the count must stay above the threshold before the alert fires, e.g. \"0s\" (at once) or \"300s\"."
  type        = string
  default     = "0s"

  validation {
    condition     = can(regex("^[0-9]+s$", var.invalid_grant_duration)) && try(tonumber(trimsuffix(var.invalid_grant_duration, "s")) <= 86400, false)
    error_message = "invalid_grant_duration must be a whole number of seconds up to \"86400s\", e.g. \"300s\"."
  }
}

variable "alert_severity" {
  description = "Severity of the module's alert policies (invalid_grant, refusal spike, upstream error rate, deny-list hit)."
  type        = string
  default     = "WARNING"

  validation {
    condition     = contains(["CRITICAL", "ERROR", "WARNING"], var.alert_severity)
    error_message = "alert_severity must be CRITICAL, ERROR or WARNING."
  }
}

variable "notification_channels" {
  description = "Notification channels (projects/P/notificationChannels/ID) every alert policy of the module notifies. Empty: the alerts open incidents without notifying anyone."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.notification_channels : can(regex("^projects/[^/]+/notificationChannels/[^/]+$", c))])
    error_message = "notification_channels must hold projects/PROJECT/notificationChannels/ID names."
  }
}

variable "enable_alert" {
  description = "Create the invalid_grant alert policy."
  type        = bool
  default     = true
}

variable "sink_destination" {
  description = "Where to copy the audit log for retention beyond the _Default bucket's 30 days: storage.googleapis.com/BUCKET, bigquery.googleapis.com/projects/P/datasets/D or logging.googleapis.com/projects/P/locations/L/buckets/B. null (default): no sink."
  type        = string
  default     = null

  validation {
    condition = var.sink_destination == null || can(regex(
      "^(storage\\.googleapis\\.com/[a-z0-9][a-z0-9._-]{1,221}[a-z0-9]|bigquery\\.googleapis\\.com/projects/[^/]+/datasets/[A-Za-z0-9_]+|logging\\.googleapis\\.com/projects/[^/]+/locations/[^/]+/buckets/[^/]+)$",
      var.sink_destination,
    ))
    error_message = "sink_destination must be storage.googleapis.com/BUCKET, bigquery.googleapis.com/projects/P/datasets/D or logging.googleapis.com/projects/P/locations/L/buckets/B."
  }
}

variable "sink_name" {
  description = "Name of the log sink."
  type        = string
  default     = "token-broker-audit"

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]{1,100}$", var.sink_name))
    error_message = "sink_name must be at most 100 letters, digits, '_', '-' or '.'."
  }
}

variable "grant_sink_writer" {
  description = "Grant the sink's writer identity write access on a Cloud Storage bucket or BigQuery dataset destination (roles/storage.objectCreator on the bucket, roles/bigquery.dataEditor on the dataset). Log-bucket destinations in another project need roles/logging.bucketWriter there, granted by you."
  type        = bool
  default     = true
}

variable "enable_dashboard" {
  description = "Create the Cloud Monitoring dashboard (dashboard.json.tftpl)."
  type        = bool
  default     = true
}

variable "dashboard_display_name" {
  description = "Display name of the dashboard."
  type        = string
  default     = "Token broker"

  validation {
    condition     = length(trimspace(var.dashboard_display_name)) > 0 && !can(regex("[\"\\\\]", var.dashboard_display_name))
    error_message = "dashboard_display_name must be non-empty and hold no double quote or backslash (it is placed in the dashboard's JSON as is)."
  }
}

variable "dashboard_top_n" {
  description = "How many series the top-N panels show (429s by principal, refusals by reason)."
  type        = number
  default     = 10

  validation {
    condition     = var.dashboard_top_n >= 1 && var.dashboard_top_n <= 50 && floor(var.dashboard_top_n) == var.dashboard_top_n
    error_message = "dashboard_top_n must be a whole number from 1 to 50."
  }
}

variable "rate_limited_subject_regex" {
  description = "RE2 regular expression with one capture group applied to principal.subject for the rate_limited metric's subject label, to coarsen it (e.g. \"^(repo:[^:]+)\" keeps a GitHub repository and drops the ref). null: the whole subject."
  type        = string
  default     = null

  validation {
    condition     = var.rate_limited_subject_regex == null ? true : try(length(regexall(var.rate_limited_subject_regex, "")) >= 0 && length(regexall("\\((?:[^?]|$)", replace(var.rate_limited_subject_regex, "\\(", ""))) == 1 && !strcontains(var.rate_limited_subject_regex, "\""), false)
    error_message = "rate_limited_subject_regex must be a valid regular expression with exactly one capture group and no double quote."
  }
}

variable "enable_refusal_spike_alert" {
  description = "Create the refusal-spike alert policy (denied token requests above refusal_spike_threshold per refusal_spike_window)."
  type        = bool
  default     = true
}

variable "refusal_spike_threshold" {
  description = "Alert when more than this many token requests are denied (outcome denied, any reason) within one refusal_spike_window."
  type        = number
  default     = 100

  validation {
    condition     = var.refusal_spike_threshold > 0
    error_message = "refusal_spike_threshold must be positive: single refusals are normal (expired tokens, retries)."
  }
}

variable "refusal_spike_window" {
  description = "Window over which denials are counted for the refusal-spike alert (its alignment period), e.g. \"300s\"."
  type        = string
  default     = "300s"

  validation {
    condition     = can(regex("^[0-9]+s$", var.refusal_spike_window)) && try(tonumber(trimsuffix(var.refusal_spike_window, "s")) >= 60 && tonumber(trimsuffix(var.refusal_spike_window, "s")) <= 86400, false)
    error_message = "refusal_spike_window must be between \"60s\" and \"86400s\"."
  }
}

variable "refusal_spike_duration" {
  description = "How long the denial count must stay above refusal_spike_threshold before the alert fires, e.g. \"0s\"."
  type        = string
  default     = "0s"

  validation {
    condition     = can(regex("^[0-9]+s$", var.refusal_spike_duration)) && try(tonumber(trimsuffix(var.refusal_spike_duration, "s")) <= 86400, false)
    error_message = "refusal_spike_duration must be a whole number of seconds up to \"86400s\", e.g. \"300s\"."
  }
}

variable "enable_upstream_error_alert" {
  description = "Create the upstream error-rate alert policy (failed IAM Credentials mints)."
  type        = bool
  default     = true
}

variable "upstream_error_ratio" {
  description = "Alert when the share of failed upstream mints (upstream_mint outcome failure / all upstream_mint) within upstream_error_window is above this, e.g. 0.05 for 5%."
  type        = number
  default     = 0.05

  validation {
    condition     = var.upstream_error_ratio > 0 && var.upstream_error_ratio < 1
    error_message = "upstream_error_ratio must be between 0 and 1 (exclusive)."
  }
}

variable "upstream_error_min_failures" {
  description = "The upstream error-rate alert also needs at least this many failed mints within upstream_error_window, so a single failure at low traffic does not page."
  type        = number
  default     = 5

  validation {
    condition     = var.upstream_error_min_failures >= 1 && floor(var.upstream_error_min_failures) == var.upstream_error_min_failures
    error_message = "upstream_error_min_failures must be a whole number, at least 1."
  }
}

variable "upstream_error_window" {
  description = "Window over which mints are counted for the upstream error-rate alert, e.g. \"300s\"."
  type        = string
  default     = "300s"

  validation {
    condition     = can(regex("^[0-9]+s$", var.upstream_error_window)) && try(tonumber(trimsuffix(var.upstream_error_window, "s")) >= 60 && tonumber(trimsuffix(var.upstream_error_window, "s")) <= 86400, false)
    error_message = "upstream_error_window must be between \"60s\" and \"86400s\"."
  }
}

variable "upstream_error_duration" {
  description = "How long the upstream error rate must stay above the threshold before the alert fires, e.g. \"0s\"."
  type        = string
  default     = "0s"

  validation {
    condition     = can(regex("^[0-9]+s$", var.upstream_error_duration)) && try(tonumber(trimsuffix(var.upstream_error_duration, "s")) <= 86400, false)
    error_message = "upstream_error_duration must be a whole number of seconds up to \"86400s\", e.g. \"300s\"."
  }
}

variable "enable_deny_list_alert" {
  description = "Create the deny-list alert policy: fires on the first token request refused with denied_by_operator (threshold 0), one incident per deny-list entry."
  type        = bool
  default     = true
}
