# Log-based metrics feeding the dashboard (dashboard.tf) and the alerts (alerts.tf). Each one
# reads the broker's audit log only, and one or two of the events docs/audit.md documents.
#
# Label cardinality: every label below takes its values from a closed set (outcomes, refusal
# reasons from shared/refusal-reasons.ts, cache outcomes, actions) or from the policy itself
# (rule ids, target service accounts, web apps, clients, deny-list entries), except
# rate_limited's `subject`. That one is bounded by whom the policy lets through: a 429 is
# answered only after the subject token verified and a rule matched, so its subjects are
# principals the policy grants, and only those that actually hit a limit get a series.
# rate_limited_subject_regex coarsens it further (e.g. a GitHub repository instead of
# repository + ref).

locals {
  exchanges_metric        = "token_broker/exchanges"
  upstream_mints_metric   = "token_broker/upstream_mints"
  upstream_latency_metric = "token_broker/upstream_latency"
  rate_limited_metric     = "token_broker/rate_limited"
  deny_list_hits_metric   = "token_broker/deny_list_hits"
  shadow_metric           = "token_broker/shadow_decisions"
  introspections_metric   = "token_broker/introspections"
  user_sessions_metric    = "token_broker/user_sessions"

  rate_limited_subject_extractor = var.rate_limited_subject_regex == null ? "EXTRACT(jsonPayload.principal.subject)" : "REGEXP_EXTRACT(jsonPayload.principal.subject, \"${replace(var.rate_limited_subject_regex, "\\", "\\\\")}\")"
}

resource "google_logging_metric" "exchanges" {
  project     = var.project_id
  name        = local.exchanges_metric
  description = "Every token-endpoint request (token_exchange entry), by outcome, refusal reason and cache outcome."
  filter      = "${local.log_filter} AND jsonPayload.event=\"token_exchange\""

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "Token broker exchanges"

    labels {
      key         = "outcome"
      value_type  = "STRING"
      description = "issued, rejected, denied, limited, upstream_failure or error."
    }
    labels {
      key         = "reason"
      value_type  = "STRING"
      description = "error.reason of a refusal or failure (empty when issued): a closed list, docs/audit.md."
    }
    labels {
      key         = "cache"
      value_type  = "STRING"
      description = "cache.outcome: hit, hit-shared, waited, miss, degraded or none (empty when no token was sought)."
    }
  }

  label_extractors = {
    outcome = "EXTRACT(jsonPayload.outcome)"
    reason  = "EXTRACT(jsonPayload.error.reason)"
    cache   = "EXTRACT(jsonPayload.cache.outcome)"
  }
}

resource "google_logging_metric" "upstream_mints" {
  project     = var.project_id
  name        = local.upstream_mints_metric
  description = "IAM Credentials generateAccessToken calls (upstream_mint entries, refreshes included), by outcome, trigger and target service account."
  filter      = "${local.log_filter} AND jsonPayload.event=\"upstream_mint\""

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "Token broker upstream mints"

    labels {
      key         = "outcome"
      value_type  = "STRING"
      description = "success or failure."
    }
    labels {
      key         = "trigger"
      value_type  = "STRING"
      description = "request or refresh."
    }
    labels {
      key         = "service_account"
      value_type  = "STRING"
      description = "The impersonated service account: one of the policy's targets."
    }
  }

  label_extractors = {
    outcome         = "EXTRACT(jsonPayload.outcome)"
    trigger         = "EXTRACT(jsonPayload.trigger)"
    service_account = "EXTRACT(jsonPayload.serviceAccount)"
  }
}

resource "google_logging_metric" "upstream_latency" {
  project         = var.project_id
  name            = local.upstream_latency_metric
  description     = "Latency of IAM Credentials generateAccessToken calls (upstream_mint latencyMs, retries included), by outcome and trigger."
  filter          = "${local.log_filter} AND jsonPayload.event=\"upstream_mint\""
  value_extractor = "EXTRACT(jsonPayload.latencyMs)"

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "DISTRIBUTION"
    unit         = "ms"
    display_name = "Token broker upstream mint latency"

    labels {
      key         = "outcome"
      value_type  = "STRING"
      description = "success or failure."
    }
    labels {
      key         = "trigger"
      value_type  = "STRING"
      description = "request or refresh."
    }
  }

  label_extractors = {
    outcome = "EXTRACT(jsonPayload.outcome)"
    trigger = "EXTRACT(jsonPayload.trigger)"
  }

  # 2 ms to about 34 s in steps of 1.5x: fine enough for p50/p95/p99 of calls that take
  # tens to hundreds of milliseconds, wide enough for retries that end in a timeout.
  bucket_options {
    exponential_buckets {
      num_finite_buckets = 24
      growth_factor      = 1.5
      scale              = 2
    }
  }
}

resource "google_logging_metric" "rate_limited" {
  project     = var.project_id
  name        = local.rate_limited_metric
  description = "Token requests answered 429 slow_down (outcome limited), by principal subject, rule and limit. Subjects are verified principals a rule matched (see the module README on cardinality)."
  filter      = "${local.log_filter} AND jsonPayload.event=\"token_exchange\" AND jsonPayload.outcome=\"limited\""

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "Token broker rate-limited requests"

    labels {
      key         = "subject"
      value_type  = "STRING"
      description = "principal.subject (or the part rate_limited_subject_regex captures); a client's id for client credentials."
    }
    labels {
      key         = "rule"
      value_type  = "STRING"
      description = "The rule whose limit was reached (empty for a client's own limit)."
    }
    labels {
      key         = "reason"
      value_type  = "STRING"
      description = "limit_requests_per_minute or limit_tokens_per_day."
    }
  }

  label_extractors = {
    subject = local.rate_limited_subject_extractor
    rule    = "EXTRACT(jsonPayload.policy.ruleId)"
    reason  = "EXTRACT(jsonPayload.error.reason)"
  }
}

resource "google_logging_metric" "deny_list_hits" {
  project     = var.project_id
  name        = local.deny_list_hits_metric
  description = "Token requests refused because an entry of the operator's deny-list matched (error.reason denied_by_operator), by deny-list entry and rule."
  filter      = "${local.log_filter} AND jsonPayload.event=\"token_exchange\" AND jsonPayload.error.reason=\"denied_by_operator\""

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "Token broker deny-list hits"

    labels {
      key         = "entry"
      value_type  = "STRING"
      description = "Id of the deny-list entry, from error.detail (\"deny ID: why\"); empty if the detail has another shape."
    }
    labels {
      key         = "rule"
      value_type  = "STRING"
      description = "The rule the request would have matched."
    }
  }

  label_extractors = {
    entry = "REGEXP_EXTRACT(jsonPayload.error.detail, \"^deny ([^:]+):\")"
    rule  = "EXTRACT(jsonPayload.policy.ruleId)"
  }
}

resource "google_logging_metric" "shadow_decisions" {
  project     = var.project_id
  name        = local.shadow_metric
  description = "Decisions of rules in mode: shadow (shadow_match: would have granted; shadow_refusal: would have refused), by kind, rule and the service account that would have been granted."
  filter      = "${local.log_filter} AND jsonPayload.event=(\"shadow_match\" OR \"shadow_refusal\")"

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "Token broker shadow-rule decisions"

    labels {
      key         = "kind"
      value_type  = "STRING"
      description = "shadow_match or shadow_refusal."
    }
    labels {
      key         = "rule"
      value_type  = "STRING"
      description = "The shadow rule."
    }
    labels {
      key         = "service_account"
      value_type  = "STRING"
      description = "wouldGrant.serviceAccount: the target the rule names."
    }
  }

  label_extractors = {
    kind            = "EXTRACT(jsonPayload.event)"
    rule            = "EXTRACT(jsonPayload.ruleId)"
    service_account = "EXTRACT(jsonPayload.wouldGrant.serviceAccount)"
  }
}

resource "google_logging_metric" "introspections" {
  project     = var.project_id
  name        = local.introspections_metric
  description = "Introspection calls (token_introspection entries), by outcome and reason."
  filter      = "${local.log_filter} AND jsonPayload.event=\"token_introspection\""

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "Token broker introspections"

    labels {
      key         = "outcome"
      value_type  = "STRING"
      description = "answered, rejected, denied, limited or upstream_failure."
    }
    labels {
      key         = "reason"
      value_type  = "STRING"
      description = "error.reason, when the call was refused or failed."
    }
  }

  label_extractors = {
    outcome = "EXTRACT(jsonPayload.outcome)"
    reason  = "EXTRACT(jsonPayload.error.reason)"
  }
}

resource "google_logging_metric" "user_sessions" {
  project     = var.project_id
  name        = local.user_sessions_metric
  description = "User sign-in requests (user_session entries), by action, outcome and web app."
  filter      = "${local.log_filter} AND jsonPayload.event=\"user_session\""

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "Token broker user sessions"

    labels {
      key         = "action"
      value_type  = "STRING"
      description = "login, callback, token or logout."
    }
    labels {
      key         = "outcome"
      value_type  = "STRING"
      description = "ok, rejected, denied, limited, upstream_failure or error."
    }
    labels {
      key         = "app"
      value_type  = "STRING"
      description = "The web app (the policy's web_apps); empty when the request named no known app."
    }
  }

  label_extractors = {
    action  = "EXTRACT(jsonPayload.action)"
    outcome = "EXTRACT(jsonPayload.outcome)"
    app     = "EXTRACT(jsonPayload.app)"
  }
}
