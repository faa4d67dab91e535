variable "project" {
  type        = string
  description = "Project name; must equal terraform-base's."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,19}$", var.project))
    error_message = "project must be 2 to 20 lower-case letters, digits or '-', starting with a letter."
  }
}

variable "environment" {
  type        = string
  description = "Environment name; must equal terraform-base's. The scheduler's ENVIRONMENT and the spec's key prefix."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,11}$", var.environment))
    error_message = "environment must be 1 to 12 lower-case letters, digits or '-', starting with a letter."
  }
}

variable "product_domain" {
  type        = string
  description = "ProductDomain tag: the business domain that owns this environment."

  validation {
    condition     = length(trimspace(var.product_domain)) > 0 && length(var.product_domain) <= 64
    error_message = "product_domain must be 1 to 64 characters."
  }
}

variable "region" {
  type        = string
  description = "AWS region (the same as terraform-base's)."
  default     = "us-east-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must look like us-east-1."
  }
}

variable "extra_tags" {
  type        = map(string)
  description = "Additional tags for everything (default tags here, and the spec's tags for what the scheduler creates)."
  default     = {}

  validation {
    condition     = length(setintersection(keys(var.extra_tags), ["Project", "Environment", "ProductDomain", "ManagedBy"])) == 0
    error_message = "extra_tags may not set Project, Environment, ProductDomain or ManagedBy (the scheduler sets ManagedBy and Environment on what it creates)."
  }

  validation {
    condition     = alltrue([for k in keys(var.extra_tags) : !startswith(k, "aws:") && !startswith(k, "runtime-scheduler:")])
    error_message = "extra_tags keys may not start with 'aws:' or 'runtime-scheduler:'."
  }
}

variable "base_state_bucket" {
  type        = string
  description = "S3 bucket holding terraform-base's state."

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.base_state_bucket))
    error_message = "base_state_bucket must be an S3 bucket name."
  }
}

variable "base_state_key" {
  type        = string
  description = "Key of terraform-base's state; null means <environment>/terraform-base.tfstate."
  default     = null
}

variable "base_state_region" {
  type        = string
  description = "Region of base_state_bucket; null means region."
  default     = null
}

variable "services" {
  description = <<-EOT
    ECS Fargate services, keyed by name (also the ECR repository and container name).
    path_patterns routes them from the HTTPS listener with rule_priority; exactly one service has
    no path_patterns and receives everything else (the listener's default action).
    desired_count is what the scheduler uses when it first creates the service; later starts
    restore what it recorded at stop. secrets are SSM SecureString parameters created under
    /<project>/<environment>/<service>/<NAME> (set their values out of band) and passed as
    environment variables of the same name.
  EOT
  type = map(object({
    cpu                               = number
    memory                            = number
    container_port                    = number
    health_check_path                 = string
    path_patterns                     = optional(list(string), [])
    rule_priority                     = optional(number)
    desired_count                     = optional(number, 1)
    image_tag                         = optional(string, "latest")
    environment                       = optional(map(string), {})
    secrets                           = optional(list(string), [])
    health_check_grace_period_seconds = optional(number, 60)
    auto_scaling = optional(object({
      min_capacity = number
      max_capacity = number
      metric       = optional(string, "ECSServiceAverageCPUUtilization")
      target_value = optional(number, 60)
    }))
  }))
  default = {
    backend = {
      cpu               = 512
      memory            = 1024
      container_port    = 8000
      health_check_path = "/health"
      path_patterns     = ["/api/*"]
      rule_priority     = 10
      secrets           = ["DATABASE_URL"]
      auto_scaling      = { min_capacity = 1, max_capacity = 4 }
    }
    frontend = {
      cpu                               = 256
      memory                            = 512
      container_port                    = 3000
      health_check_path                 = "/"
      health_check_grace_period_seconds = 30
    }
  }

  validation {
    condition     = length(var.services) >= 1 && alltrue([for k in keys(var.services) : can(regex("^[a-z][a-z0-9-]{0,30}$", k))])
    error_message = "services needs at least one entry; names are lower-case letters, digits and '-'."
  }

  validation {
    condition     = length([for s in values(var.services) : s if length(s.path_patterns) == 0]) == 1
    error_message = "Exactly one service must have no path_patterns: it is the HTTPS listener's default action."
  }

  validation {
    # Fargate's valid CPU/memory pairs (MiB) for 256 to 4096 CPU units.
    condition = alltrue([for s in values(var.services) : (
      (s.cpu == 256 && contains([512, 1024, 2048], s.memory)) ||
      (s.cpu == 512 && s.memory >= 1024 && s.memory <= 4096 && s.memory % 1024 == 0) ||
      (s.cpu == 1024 && s.memory >= 2048 && s.memory <= 8192 && s.memory % 1024 == 0) ||
      (s.cpu == 2048 && s.memory >= 4096 && s.memory <= 16384 && s.memory % 1024 == 0) ||
      (s.cpu == 4096 && s.memory >= 8192 && s.memory <= 30720 && s.memory % 1024 == 0)
    )])
    error_message = "Each service needs a Fargate CPU/memory pair: 256 with 512/1024/2048, 512 with 1024-4096, 1024 with 2048-8192, 2048 with 4096-16384, 4096 with 8192-30720 (memory in 1024 steps above 256 CPU)."
  }

  validation {
    condition     = alltrue([for s in values(var.services) : s.container_port >= 1 && s.container_port <= 65535 && floor(s.container_port) == s.container_port])
    error_message = "container_port must be an integer from 1 to 65535."
  }

  validation {
    condition     = alltrue([for s in values(var.services) : startswith(s.health_check_path, "/") && length(s.health_check_path) <= 1024])
    error_message = "health_check_path must start with '/'."
  }

  validation {
    condition = alltrue([for s in values(var.services) : length(s.path_patterns) == 0 || (
      s.rule_priority != null && try(s.rule_priority >= 1 && s.rule_priority <= 50000, false) && length(s.path_patterns) <= 5
    )])
    error_message = "A service with path_patterns needs a rule_priority from 1 to 50000 and at most 5 patterns."
  }

  validation {
    condition = length(distinct([for s in values(var.services) : s.rule_priority if length(s.path_patterns) > 0])) == length([
      for s in values(var.services) : s if length(s.path_patterns) > 0
    ])
    error_message = "rule_priority must be unique among the services."
  }

  validation {
    condition     = alltrue([for s in values(var.services) : s.desired_count >= 0 && s.desired_count <= 1000 && floor(s.desired_count) == s.desired_count])
    error_message = "desired_count must be an integer from 0 to 1000."
  }

  validation {
    condition = alltrue([for s in values(var.services) : s.auto_scaling == null || try(
      s.auto_scaling.min_capacity <= s.desired_count && s.desired_count <= s.auto_scaling.max_capacity && s.auto_scaling.max_capacity >= 1,
    false)])
    error_message = "With auto_scaling, min_capacity <= desired_count <= max_capacity and max_capacity >= 1."
  }

  validation {
    condition = alltrue([for s in values(var.services) : s.auto_scaling == null || try(
      contains(["ECSServiceAverageCPUUtilization", "ECSServiceAverageMemoryUtilization", "ALBRequestCountPerTarget"], s.auto_scaling.metric) && s.auto_scaling.target_value > 0,
    false)])
    error_message = "auto_scaling.metric must be ECSServiceAverageCPUUtilization, ECSServiceAverageMemoryUtilization or ALBRequestCountPerTarget, with a positive target_value."
  }

  validation {
    condition     = alltrue(flatten([for s in values(var.services) : [for n in s.secrets : can(regex("^[A-Z_][A-Z0-9_]*$", n))]]))
    error_message = "secrets are environment variable names (upper case, digits, '_')."
  }

  validation {
    # A secret must never be a plain environment value: it would be readable in the task
    # definition by anyone with ecs:DescribeTaskDefinition, and in Terraform's state.
    condition = alltrue(flatten([for s in values(var.services) : [
      for k in keys(s.environment) : !can(regex("(?i)(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|CREDENTIAL|DATABASE_URL|DSN$)", k))
    ]]))
    error_message = "An environment variable whose name looks like a secret (PASSWORD, SECRET, TOKEN, API_KEY, PRIVATE_KEY, CREDENTIAL, DATABASE_URL, *DSN) must be listed in the service's secrets instead: it is then an SSM SecureString injected by ECS, never a plain value."
  }

  validation {
    condition     = alltrue([for s in values(var.services) : length(setintersection(keys(s.environment), s.secrets)) == 0 && length(distinct(s.secrets)) == length(s.secrets)])
    error_message = "A name is either in environment or in secrets, not both, and secrets are distinct."
  }

  validation {
    condition     = alltrue([for s in values(var.services) : s.health_check_grace_period_seconds >= 0 && s.health_check_grace_period_seconds <= 7200])
    error_message = "health_check_grace_period_seconds must be 0 to 7200."
  }
}

variable "task_cpu_architecture" {
  type        = string
  description = "CPU architecture of the service containers: X86_64 or ARM64 (your images must match)."
  default     = "X86_64"

  validation {
    condition     = contains(["X86_64", "ARM64"], var.task_cpu_architecture)
    error_message = "task_cpu_architecture must be X86_64 or ARM64."
  }
}

variable "container_insights" {
  type        = string
  description = "ECS Container Insights: enabled, enhanced or disabled."
  default     = "enabled"

  validation {
    condition     = contains(["enabled", "enhanced", "disabled"], var.container_insights)
    error_message = "container_insights must be enabled, enhanced or disabled."
  }
}

variable "log_retention_days" {
  type        = number
  description = "Retention of the log groups this root creates."
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ... 3653)."
  }
}

variable "nat_elastic_ip_mode" {
  type        = string
  description = "What the scheduler does with a NAT gateway's Elastic IP at stop when terraform-base holds no persistent one: release (cheapest) or keep (stable egress IP, allocated by the scheduler)."
  default     = "release"

  validation {
    condition     = contains(["release", "keep"], var.nat_elastic_ip_mode)
    error_message = "nat_elastic_ip_mode must be release or keep (persistent addresses from terraform-base are used as 'external' automatically)."
  }
}

variable "alb_idle_timeout_seconds" {
  type        = number
  description = "ALB idle timeout."
  default     = 60

  validation {
    condition     = var.alb_idle_timeout_seconds >= 1 && var.alb_idle_timeout_seconds <= 4000
    error_message = "alb_idle_timeout_seconds must be 1 to 4000."
  }
}

variable "alb_ssl_policy" {
  type        = string
  description = "SSL policy of the HTTPS listener."
  default     = "ELBSecurityPolicy-TLS13-1-2-2021-06"

  validation {
    condition     = startswith(var.alb_ssl_policy, "ELBSecurityPolicy-")
    error_message = "alb_ssl_policy must be an ELB security policy name."
  }
}

variable "dns_record_types" {
  type        = list(string)
  description = "Alias record types the scheduler keeps pointing at the ALB. AAAA needs a dualstack ALB, which this root does not configure."
  default     = ["A"]

  validation {
    condition     = length(var.dns_record_types) > 0 && alltrue([for t in var.dns_record_types : t == "A"])
    error_message = "dns_record_types must be [\"A\"] (the ALB is ipv4 only)."
  }
}

variable "schedule_timezone" {
  type        = string
  description = "IANA time zone of the business-hours window (a UTC cron would drift by an hour twice a year)."
  default     = "America/New_York"

  validation {
    condition     = can(regex("^(UTC|[A-Z][A-Za-z_]+(/[A-Za-z0-9_+-]+){1,2})$", var.schedule_timezone))
    error_message = "schedule_timezone must be an IANA zone name such as America/New_York or UTC."
  }
}

variable "schedule_start" {
  type        = string
  description = "Local time (HH:MM, 24 h) the window opens: the start schedule fires then."
  default     = "08:00"

  validation {
    condition     = can(regex("^([01][0-9]|2[0-3]):[0-5][0-9]$", var.schedule_start))
    error_message = "schedule_start must be HH:MM (00:00 to 23:59)."
  }
}

variable "schedule_stop" {
  type        = string
  description = "Local time (HH:MM, 24 h) the window closes: the stop schedule fires then. Earlier than schedule_start means the window crosses midnight."
  default     = "20:00"

  validation {
    condition     = can(regex("^([01][0-9]|2[0-3]):[0-5][0-9]$", var.schedule_stop))
    error_message = "schedule_stop must be HH:MM (00:00 to 23:59)."
  }

  validation {
    condition     = var.schedule_stop != var.schedule_start
    error_message = "schedule_stop must differ from schedule_start."
  }
}

variable "schedule_days" {
  type        = list(string)
  description = "Days the window opens (MON..SUN)."
  default     = ["MON", "TUE", "WED", "THU", "FRI"]

  validation {
    condition     = length(var.schedule_days) > 0 && length(distinct(var.schedule_days)) == length(var.schedule_days) && alltrue([for d in var.schedule_days : contains(["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"], d)])
    error_message = "schedule_days must be distinct values among MON, TUE, WED, THU, FRI, SAT, SUN."
  }
}

variable "schedule_skip_dates" {
  type        = list(string)
  description = "Local dates (YYYY-MM-DD) on which the window does not open (holidays). The scheduler skips them; EventBridge still fires."
  default     = []

  validation {
    condition     = alltrue([for d in var.schedule_skip_dates : can(formatdate("YYYY-MM-DD", "${d}T00:00:00Z"))])
    error_message = "schedule_skip_dates must be YYYY-MM-DD dates."
  }
}

variable "enable_schedules" {
  type        = bool
  description = "Create the EventBridge Scheduler schedules (start, stop, reconcile). Off, the tier only moves on manual invocations."
  default     = true
}

variable "reconcile_interval_minutes" {
  type        = number
  description = "How often the reconcile schedule fires; 0 creates no reconcile schedule."
  default     = 15

  validation {
    condition     = var.reconcile_interval_minutes == 0 || (var.reconcile_interval_minutes >= 5 && var.reconcile_interval_minutes <= 1440)
    error_message = "reconcile_interval_minutes must be 0 or 5 to 1440."
  }
}

variable "schedule_retry_attempts" {
  type        = number
  description = "EventBridge Scheduler retries when it cannot deliver to the function."
  default     = 3

  validation {
    condition     = var.schedule_retry_attempts >= 0 && var.schedule_retry_attempts <= 185
    error_message = "schedule_retry_attempts must be 0 to 185."
  }
}

variable "schedule_max_event_age_seconds" {
  type        = number
  description = "EventBridge Scheduler gives up delivering an event after this long (then it goes to the dead-letter queue)."
  default     = 3600

  validation {
    condition     = var.schedule_max_event_age_seconds >= 60 && var.schedule_max_event_age_seconds <= 86400
    error_message = "schedule_max_event_age_seconds must be 60 to 86400."
  }
}

variable "scheduler_timeouts" {
  type = object({
    nat_available_seconds        = optional(number, 300)
    nat_deleted_seconds          = optional(number, 300)
    load_balancer_active_seconds = optional(number, 600)
    services_stable_seconds      = optional(number, 300)
    dns_in_sync_seconds          = optional(number, 180)
    # How long each wait usually takes: the scheduler's first poll comes then (it learns the
    # real durations after a few runs). Defaults are the low end of what AWS takes.
    expected = optional(object({
      nat_available_seconds        = optional(number, 60)
      nat_deleted_seconds          = optional(number, 45)
      load_balancer_active_seconds = optional(number, 120)
      services_stable_seconds      = optional(number, 45)
      dns_in_sync_seconds          = optional(number, 30)
    }), {})
  })
  description = "Bounds on the scheduler's waits and their expected durations (the spec's timeouts). Local runs set services_stable_seconds small (moto's tasks never run) and every expected duration to 0 (moto is instant)."
  default     = {}

  validation {
    condition = alltrue(concat(
      [for k, v in var.scheduler_timeouts : v >= 0 && v <= 840 if k != "expected"],
      [for v in values(var.scheduler_timeouts.expected) : v >= 0 && v <= 840],
    ))
    error_message = "Each timeout and expected duration must be 0 to 840 seconds (the function times out at 900)."
  }
}

variable "create_scheduler_function" {
  type        = bool
  description = "Create the scheduler Lambda function (and what invokes it). Needs the zip at lambda_zip_path."
  default     = true
}

variable "lambda_zip_path" {
  type        = string
  description = "The function's zip (bootstrap inside), relative to this root; `make build-lambda` writes it."
  default     = "../target/lambda/runtime-scheduler/bootstrap.zip"
}

variable "lambda_architecture" {
  type        = string
  description = "Lambda architecture; must match the build (make build-lambda ARM64=1 for arm64)."
  default     = "x86_64"

  validation {
    condition     = contains(["x86_64", "arm64"], var.lambda_architecture)
    error_message = "lambda_architecture must be x86_64 or arm64."
  }
}

variable "lambda_memory_mb" {
  type        = number
  description = "Function memory. The work is waiting on AWS APIs; 256 MB is plenty."
  default     = 256

  validation {
    condition     = var.lambda_memory_mb >= 128 && var.lambda_memory_mb <= 10240 && floor(var.lambda_memory_mb) == var.lambda_memory_mb
    error_message = "lambda_memory_mb must be an integer from 128 to 10240."
  }
}

variable "lambda_timeout_seconds" {
  type        = number
  description = "Function timeout. A stop waits for NAT gateways to be deleted (minutes), so the default is the maximum."
  default     = 900

  validation {
    condition     = var.lambda_timeout_seconds >= 60 && var.lambda_timeout_seconds <= 900
    error_message = "lambda_timeout_seconds must be 60 to 900."
  }
}

variable "lambda_reserved_concurrency" {
  type        = number
  description = "Reserved concurrency of the function; null reserves none. Overlapping runs are already safe (the scheduler's S3 lease answers 'busy'); 1 also queues them, but accounts at the default limit of 10 cannot reserve any."
  default     = null

  validation {
    condition     = var.lambda_reserved_concurrency == null || try(var.lambda_reserved_concurrency >= 1, false)
    error_message = "lambda_reserved_concurrency must be null or at least 1."
  }
}

variable "lambda_async_retry_attempts" {
  type        = number
  description = "Lambda's own retries of a failed asynchronous (scheduled) invocation; the actions are convergent, so a retry finishes the job."
  default     = 2

  validation {
    condition     = var.lambda_async_retry_attempts >= 0 && var.lambda_async_retry_attempts <= 2
    error_message = "lambda_async_retry_attempts must be 0 to 2."
  }
}

variable "enable_waf" {
  type        = bool
  description = "Create a WAFv2 web ACL (rate limit plus AWS managed common and known-bad-inputs rules); the scheduler associates it with every ALB it creates."
  default     = false
}

variable "waf_rate_limit" {
  type        = number
  description = "Requests per 5 minutes per client IP before the WAF blocks it."
  default     = 2000

  validation {
    condition     = var.waf_rate_limit >= 10 && var.waf_rate_limit <= 2000000000
    error_message = "waf_rate_limit must be 10 to 2000000000."
  }
}

variable "enable_alarms" {
  type        = bool
  description = "CloudWatch alarms, every one notifying the alert topic on ALARM and OK: the scheduler (errors, failed outcomes, silence, the tier not in the state the schedule wants past tier_mismatch_grace_minutes, dead letters), the services (CPU, memory), the ALB per target group (target 5xx, latency, unhealthy hosts) and, with enable_tag_based_metrics, the ALB's own 5xx and NAT port allocation errors."
  default     = true
}

variable "alert_emails" {
  type        = list(string)
  description = "E-mail addresses subscribed to the alert topic (each must confirm)."
  default     = []

  validation {
    condition     = alltrue([for e in var.alert_emails : can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", e))])
    error_message = "alert_emails must be e-mail addresses."
  }
}

variable "create_budget" {
  type        = bool
  description = "Create a monthly cost budget with notifications."
  default     = true
}

variable "budget_limit_usd" {
  type        = number
  description = "Monthly budget in USD."
  default     = 150

  validation {
    condition     = var.budget_limit_usd > 0
    error_message = "budget_limit_usd must be positive."
  }
}

variable "budget_thresholds_percent" {
  type        = list(number)
  description = "Forecasted and actual spend thresholds (percent of the limit) that notify."
  default     = [80, 100]

  validation {
    condition     = length(var.budget_thresholds_percent) > 0 && alltrue([for t in var.budget_thresholds_percent : t > 0 && t <= 1000])
    error_message = "budget_thresholds_percent must be between 0 and 1000."
  }
}

variable "budget_filter_by_project_tag" {
  type        = bool
  description = "Count only costs tagged Project=<project> (activate Project as a cost allocation tag first); false counts the whole account."
  default     = true
}

variable "alert_webhook_url" {
  type        = string
  description = "Optional HTTPS endpoint subscribed to the alert topic (a chat relay). SNS first POSTs a SubscriptionConfirmation the endpoint must confirm by visiting its SubscribeURL; plain Slack or Teams incoming webhooks cannot, use chatbot_slack for Slack. Sensitive: such URLs usually carry a token."
  default     = null
  sensitive   = true

  validation {
    condition     = var.alert_webhook_url == null || can(regex("^https://[^\\s/$.?#][^\\s]*$", var.alert_webhook_url))
    error_message = "alert_webhook_url must be an https:// URL."
  }
}

variable "chatbot_slack" {
  type = object({
    team_id    = string
    channel_id = string
  })
  description = "Optional AWS Chatbot (Amazon Q Developer in chat applications) delivery of the alert topic to a Slack channel: the workspace (team_id) must first be authorised once in the Chatbot console. null creates nothing."
  default     = null

  validation {
    condition     = var.chatbot_slack == null || try(can(regex("^T[A-Z0-9]{6,}$", var.chatbot_slack.team_id)) && can(regex("^[CG][A-Z0-9]{6,}$", var.chatbot_slack.channel_id)), false)
    error_message = "chatbot_slack needs a Slack team_id (T...) and channel_id (C... or G...)."
  }
}

variable "scheduler_application_log_level" {
  type        = string
  description = "Level of the scheduler's own JSON logs (Lambda logging_config; Lambda passes it to the function as AWS_LAMBDA_LOG_LEVEL)."
  default     = "INFO"

  validation {
    condition     = contains(["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"], var.scheduler_application_log_level)
    error_message = "scheduler_application_log_level must be TRACE, DEBUG, INFO, WARN, ERROR or FATAL."
  }
}

variable "scheduler_system_log_level" {
  type        = string
  description = "Level of the Lambda platform's own log lines (START, END, REPORT and platform events) for the scheduler."
  default     = "WARN"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARN"], var.scheduler_system_log_level)
    error_message = "scheduler_system_log_level must be DEBUG, INFO or WARN."
  }
}

variable "enable_dashboard" {
  type        = bool
  description = "Create the environment's CloudWatch dashboard (services, ALB, NAT gateways, the scheduler). Widgets select the ALB by target group or name and the NAT gateways by tag, never by id, so they keep working across sleep cycles."
  default     = true
}

variable "enable_tag_based_metrics" {
  type        = bool
  description = "The account has CloudWatch 'resource tags on telemetry' enabled in this region (aws observabilityadmin start-telemetry-enrichment). Then Metrics Insights can select the recreated ALB and NAT gateways by their ManagedBy/Environment tags: the dashboard's NAT and ALB-level widgets use that, and two more alarms exist (ALB-generated 5xx, NAT port allocation errors). Off, those widgets fall back to SEARCH by name (ALB) or to every NAT gateway of the region."
  default     = false
}

variable "alarm_cpu_percent" {
  type        = number
  description = "Average CPU utilisation of a service (percent of its reservation) over 3 x 5 minutes that raises its alarm."
  default     = 85

  validation {
    condition     = var.alarm_cpu_percent > 0 && var.alarm_cpu_percent <= 100
    error_message = "alarm_cpu_percent must be between 0 and 100."
  }
}

variable "alarm_memory_percent" {
  type        = number
  description = "Average memory utilisation of a service (percent of its reservation) over 3 x 5 minutes that raises its alarm."
  default     = 85

  validation {
    condition     = var.alarm_memory_percent > 0 && var.alarm_memory_percent <= 100
    error_message = "alarm_memory_percent must be between 0 and 100."
  }
}

variable "alarm_5xx_per_5_minutes" {
  type        = number
  description = "5xx responses in 5 minutes that raise an alarm: per service from its targets (also the service's deployment alarm) and, with enable_tag_based_metrics, generated by the ALB itself."
  default     = 10

  validation {
    condition     = var.alarm_5xx_per_5_minutes >= 1 && floor(var.alarm_5xx_per_5_minutes) == var.alarm_5xx_per_5_minutes
    error_message = "alarm_5xx_per_5_minutes must be a positive integer."
  }
}

variable "alarm_latency_seconds" {
  type        = number
  description = "Average target response time of a service over 3 x 5 minutes that raises its latency alarm. An average, not a percentile: Metrics Insights, which alarms need to follow the recreated ALB, has no percentile functions (the dashboard shows p50 and p95)."
  default     = 2

  validation {
    condition     = var.alarm_latency_seconds > 0 && var.alarm_latency_seconds <= 600
    error_message = "alarm_latency_seconds must be between 0 and 600."
  }
}

variable "tier_mismatch_grace_minutes" {
  type        = number
  description = "How long the tier may stay in another phase than the schedule, overrides and holds want (a start or stop in progress, a retry) before an alarm is raised."
  default     = 30

  validation {
    condition     = var.tier_mismatch_grace_minutes >= 15 && var.tier_mismatch_grace_minutes <= 720
    error_message = "tier_mismatch_grace_minutes must be 15 to 720."
  }
}

variable "enable_ecr_scan_alerts" {
  type        = bool
  description = "Notify the alert topic when an ECR image scan of this environment's repositories finds HIGH or CRITICAL vulnerabilities (EventBridge rule)."
  default     = true
}

variable "enable_guardduty_alerts" {
  type        = bool
  description = "Notify the alert topic of GuardDuty findings of severity 7 (high) or more in this account and region (EventBridge rule; harmless when GuardDuty is off)."
  default     = true
}

# --- Wake on request and sleep when idle (wake.tf, idle.tf) -------------------------------

variable "enable_wake_on_request" {
  type        = bool
  description = "While the tier sleeps, the application's names answer from a front (API Gateway HTTP API + the wake-front function) that shows the environment's state and wakes it on request; the scheduler moves the alias records to it at stop and back at start. Needs the wake-front zip (front_zip_path). Off by default: it puts a public endpoint in front of the sleeping environment, so each environment opts in (env/demo.tfvars does)."
  default     = false
}

variable "front_zip_path" {
  type        = string
  description = "The wake-front function's zip (bootstrap inside), relative to this root; `make build-lambda` writes it beside the scheduler's."
  default     = "../target/lambda/wake-front/bootstrap.zip"
}

variable "create_wake_domains" {
  type        = bool
  description = "Create the front's regional custom domain (and API mapping) per application hostname, with terraform-base's certificate. Off only where API Gateway custom domains cannot be served (the local AWS: moto returns no domain status, target or zone); the spec's wake.front is then empty and a stop deletes the alias records."
  default     = true
}

variable "wake_title" {
  type        = string
  description = "What the front's page calls this environment; null means \"<project> <environment>\"."
  default     = null

  validation {
    condition     = var.wake_title == null || try(length(trimspace(var.wake_title)) > 0 && length(var.wake_title) <= 80 && !can(regex("[[:cntrl:]]", var.wake_title)), false)
    error_message = "wake_title must be 1 to 80 printable characters."
  }
}

variable "wake_default_hours" {
  type        = number
  description = "Hours a wake from the page keeps the tier up when the visitor does not choose (the hold of the start it sends)."
  default     = 2

  validation {
    condition     = floor(var.wake_default_hours) == var.wake_default_hours && var.wake_default_hours >= 1 && var.wake_default_hours <= var.wake_max_hours
    error_message = "wake_default_hours must be a whole number from 1 to wake_max_hours."
  }
}

variable "wake_max_hours" {
  type        = number
  description = "The most hours a visitor may ask for."
  default     = 8

  validation {
    condition     = floor(var.wake_max_hours) == var.wake_max_hours && var.wake_max_hours >= 1 && var.wake_max_hours <= 24
    error_message = "wake_max_hours must be a whole number from 1 to 24."
  }
}

variable "wake_allowed_cidrs" {
  type        = list(string)
  description = "Source CIDRs (IPv4 or IPv6) allowed to wake the tier; empty allows any address that presents a valid page token (or the API secret)."
  default     = []

  validation {
    condition     = length(var.wake_allowed_cidrs) <= 50 && alltrue([for c in var.wake_allowed_cidrs : strcontains(c, "/") && can(cidrhost(c, 0))])
    error_message = "wake_allowed_cidrs must be at most 50 CIDR blocks such as 203.0.113.0/24 or 2001:db8::/32."
  }
}

variable "wake_api_secret_sha256" {
  type        = string
  description = "SHA-256 (64 hex digits) of a shared secret that API clients send instead of a page token; null disables that path. Only the hash enters Terraform and the spec: generate the secret with `openssl rand -hex 32`, keep it in your secret store, and pass `printf %s \"$SECRET\" | sha256sum | cut -d' ' -f1`."
  default     = null

  validation {
    condition     = var.wake_api_secret_sha256 == null || can(regex("^[0-9a-fA-F]{64}$", var.wake_api_secret_sha256))
    error_message = "wake_api_secret_sha256 must be null or 64 hex digits (the SHA-256 of the secret, never the secret itself)."
  }
}

variable "idle_minutes" {
  type        = number
  description = "Stop the tier when its ALB has served no request for this many minutes (an alarm on a Metrics Insights query, see README.md); null never stops for idleness. At most 180: CloudWatch evaluates Metrics Insights alarms over the latest 3 hours only. Needs enable_wake_on_request, so that the next visitor can wake it."
  default     = null

  validation {
    condition     = var.idle_minutes == null || try(floor(var.idle_minutes) == var.idle_minutes && var.idle_minutes >= 5 && var.idle_minutes <= 180, false)
    error_message = "idle_minutes must be null or a whole number from 5 to 180."
  }

  validation {
    condition     = var.idle_minutes == null || var.enable_wake_on_request
    error_message = "idle_minutes needs enable_wake_on_request: a tier stopped for idleness is woken by its next visitor."
  }
}

variable "wake_on_demand" {
  type        = bool
  description = "No window at all: the tier sleeps unless woken from the front (then for the hours asked), and no start or stop schedule is created; reconcile ends each wake's hold. Needs enable_wake_on_request and reconcile_interval_minutes > 0."
  default     = false

  validation {
    condition     = !var.wake_on_demand || (var.enable_wake_on_request && var.reconcile_interval_minutes > 0)
    error_message = "wake_on_demand needs enable_wake_on_request and a reconcile schedule (reconcile_interval_minutes > 0)."
  }
}


variable "prices" {
  type = object({
    currency           = optional(string, "USD")
    nat_gateway_hour   = optional(number, 0.045)
    public_ipv4_hour   = optional(number, 0.005)
    load_balancer_hour = optional(number, 0.0225)
    lcu_hour           = optional(number, 0.008)
    lcus_per_hour      = optional(number, 1)
    fargate_vcpu_hour  = optional(number, 0.04048)
    fargate_gb_hour    = optional(number, 0.004445)
  })
  description = "On-demand prices the savings in status and report use, per hour (defaults: us-east-1, Linux/x86, checked 2026-12-02). Set them for another region; null keeps the scheduler's defaults."
  default     = null

  validation {
    condition     = var.prices == null || alltrue([for k, v in coalesce(var.prices, {}) : k == "currency" || try(v >= 0, false)])
    error_message = "prices must be numbers of at least 0."
  }
}
