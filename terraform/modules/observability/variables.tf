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
  description = "Severity of the invalid_grant alert policy."
  type        = string
  default     = "WARNING"

  validation {
    condition     = contains(["CRITICAL", "ERROR", "WARNING"], var.alert_severity)
    error_message = "alert_severity must be CRITICAL, ERROR or WARNING."
  }
}

variable "notification_channels" {
  description = "Notification channels (projects/P/notificationChannels/ID) the invalid_grant alert notifies. Empty: the alert opens incidents without notifying anyone."
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
