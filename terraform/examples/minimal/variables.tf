variable "project_id" {
  description = "Project to deploy the broker into."
  type        = string
}

variable "region" {
  description = "Region of the broker (and of its KMS key ring and Firestore database)."
  type        = string
  default     = "europe-west1"
}

variable "source_archive_path" {
  description = "The broker archive built as described in terraform/README.md."
  type        = string
  default     = "../../../broker.zip"
}

variable "gke_cluster" {
  description = "The GKE cluster whose pods call the broker: its issuer is https://container.googleapis.com/v1/projects/PROJECT/locations/LOCATION/clusters/NAME. project defaults to project_id."
  type = object({
    project  = optional(string)
    location = string
    name     = string
  })

  validation {
    condition = (
      can(regex("^[a-z0-9-]+$", var.gke_cluster.location)) &&
      can(regex("^[a-z]([a-z0-9-]*[a-z0-9])?$", var.gke_cluster.name)) &&
      (var.gke_cluster.project == null || can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", coalesce(var.gke_cluster.project, "x"))))
    )
    error_message = "gke_cluster.project, location and name must be a project id, a GKE location and a cluster name."
  }
}

variable "workload" {
  description = "The Kubernetes service account (namespace and name) whose projected tokens may be exchanged."
  type = object({
    namespace       = string
    service_account = string
  })

  validation {
    # Both end up inside CEL string literals in the policy: DNS-1123 labels only.
    condition     = can(regex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", var.workload.namespace)) && can(regex("^[a-z0-9]([-.a-z0-9]*[a-z0-9])?$", var.workload.service_account))
    error_message = "workload.namespace and workload.service_account must be Kubernetes names (lower-case letters, digits, - and .)."
  }
}
