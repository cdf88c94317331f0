"""The release controller: a Standard Step Functions state machine that runs a release plan in AWS,
so a release goes on when the operator's terminal does not (docs/releases.md).

```
Begin (lock, pre-traffic check, gates, record) -> Advance (weight step) -> next?
   bake:   Bake (Wait $.release.wait_s) -> Check (gates, abort flag, lease) -> next?
             bake -> Bake | step -> Advance | finish -> Finish | fired -> RollBack -> GateFired
             aborted -> Aborted (`modelctl abort` rolled back and took the lock over)
   step:   Advance      finish: Finish (promote or leave the canary, lock released) -> Released
   approve: AwaitApproval (.waitForTaskToken: `modelctl approve|reject`, its own timeout)
             approved -> Approved (gates, abort flag) -> next? | rejected or timed out -> Decline
             (history, roll back) -> NotApproved
every task: Retry (Lambda service errors), Catch (all) -> CleanUp (roll back, release the lock) -> Failed
execution timeout; an EventBridge rule sends timed-out, failed and stopped executions to CleanUp too
```

Every task is one function (`release/controller/handler.py`, from the retraining image), told which
step to run by the payload; the state is the execution's JSON, each step returning it updated.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from infra.config.runtime import RuntimeConfig
from infra.constructs.model_store import MODELS_PREFIX
from infra.constructs.monitor import LOG_PREFIXES
from infra.constructs.queues import dead_letter_queue, queue_not_empty_alarm
from infra.constructs.retention import retention
from infra.constructs.retraining import LAMBDA_SERVICE_ERRORS
from infra.constructs.retraining_image import image_code
from infra.nag import acknowledge, wildcard_findings
from release.controller.approval import REJECTED_ERROR

HANDLER = "release.controller.handler.handler"
TASK_TIMEOUT_S = 120
GATE_PREFIX = "modelctl-"  # release/gates.py names each gate modelctl-<function>-<alias>-v<version>-<kind>
DEFAULT_TIMEOUT = cdk.Duration.hours(24)


def controller_code(runtime: RuntimeConfig) -> lambda_.DockerImageCode:
    """The retraining image (it holds release/), started with the controller's handler."""
    return image_code(runtime, handler=HANDLER)


def grant_log_read(function: lambda_.IFunction, log_bucket: s3.IBucket) -> None:
    """Read the prediction log and feedback prefixes (the quality gate), as the monitor does."""
    function.add_to_role_policy(
        iam.PolicyStatement(
            actions=["s3:GetObject"],
            resources=[log_bucket.arn_for_objects(f"{prefix}*") for prefix in LOG_PREFIXES],
        )
    )
    function.add_to_role_policy(
        iam.PolicyStatement(
            actions=["s3:ListBucket"],
            resources=[log_bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{prefix}*" for prefix in LOG_PREFIXES]}},
        )
    )


class ReleaseController(Construct):
    """The state machine, its task function and the rule that cleans up after ended executions."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        runtime: RuntimeConfig,
        code: lambda_.DockerImageCode,
        model_bucket: s3.IBucket,
        function_name: str,
        alias_name: str,
        release_table_name: str,
        fleet_alarm_names: list[str],
        timeout: cdk.Duration = DEFAULT_TIMEOUT,
        log_bucket_name: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        serving_arn = stack.format_arn(
            service="lambda",
            resource="function",
            resource_name=function_name,
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )
        table = dynamodb.Table.from_table_name(self, "ReleaseTable", release_table_name)
        log_group = logs.LogGroup(self, "FunctionLogs", retention=retention(runtime.log_retention_days))
        role = iam.Role(
            self,
            "FunctionRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Release controller steps: release lock and history, the serving alias, gates",
        )
        log_group.grant_write(role)
        # The cleanup of an ended execution is the one asynchronous invocation (the EndedExecutions
        # rule): what EventBridge cannot deliver, and what still fails after Lambda's retries, lands
        # here, and the alarm says so.
        self.cleanup_dead_letters = dead_letter_queue(self, "CleanupDeadLetters")
        self.function = lambda_.DockerImageFunction(
            self,
            "Function",
            role=role,
            code=code,
            architecture=lambda_.Architecture.ARM_64
            if runtime.architecture == "arm64"
            else lambda_.Architecture.X86_64,
            memory_size=512,
            timeout=cdk.Duration.seconds(TASK_TIMEOUT_S - 30),
            environment={
                "MODELCTL_FUNCTION": function_name,
                "MODELCTL_ALIAS": alias_name,
                "MODELCTL_RELEASE_TABLE": table.table_name,
                "MODELCTL_MODEL_BUCKET": model_bucket.bucket_name,
                "RELEASE_FLEET_ALARMS": ",".join(fleet_alarm_names),
                "POWERTOOLS_SERVICE_NAME": "release-controller",
                **({"MODELCTL_LOG_BUCKET": log_bucket_name} if log_bucket_name else {}),
            },
            tracing=lambda_.Tracing.ACTIVE,
            description="Release controller steps (the step named in the event)",
            log_group=log_group,
            on_failure=destinations.SqsDestination(self.cleanup_dead_letters),
            retry_attempts=2,
        )
        table.grant_read_write_data(self.function)
        model_bucket.grant_read(self.function, f"{MODELS_PREFIX}*")  # the candidate's metadata
        if log_bucket_name:  # the quality gate reads the prediction log and the feedback
            grant_log_read(self.function, s3.Bucket.from_bucket_name(self, "LogBucket", log_bucket_name))
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=[
                    "lambda:GetAlias",
                    "lambda:UpdateAlias",
                    "lambda:GetFunctionConfiguration",
                    "lambda:ListVersionsByFunction",
                    "lambda:InvokeFunction",  # the pre-traffic check calls the candidate version
                ],
                resources=[serving_arn, f"{serving_arn}:*"],
            )
        )
        alarm_arn = "arn:{}:cloudwatch:{}:{}:alarm:{}".format
        gate_alarms = alarm_arn(
            stack.partition, stack.region, stack.account, f"{GATE_PREFIX}{function_name}-*"
        )
        self.function.add_to_role_policy(  # gates: per-version alarms, made and deleted per release
            iam.PolicyStatement(
                actions=["cloudwatch:DescribeAlarms", "cloudwatch:PutMetricAlarm", "cloudwatch:DeleteAlarms"],
                resources=[gate_alarms],
            )
        )
        self.function.add_to_role_policy(  # the gates' thresholds follow the stack's alias alarms
            iam.PolicyStatement(
                actions=["cloudwatch:DescribeAlarms"],
                resources=[
                    alarm_arn(stack.partition, stack.region, stack.account, n) for n in fleet_alarm_names
                ],
            )
        )
        self.log_group = logs.LogGroup(self, "WorkflowLogs", retention=retention(runtime.log_retention_days))
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            definition_body=sfn.DefinitionBody.from_chainable(self._definition()),
            state_machine_type=sfn.StateMachineType.STANDARD,
            timeout=timeout,
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=self.log_group, level=sfn.LogLevel.ALL),
            comment="Release controller: lock, pre-traffic check, weight steps, bakes, gates, promote",
        )
        self.cleanup_rule = events.Rule(
            self,
            "EndedExecutions",
            description="Timed-out, failed or stopped releases: roll back and release the lock",
            event_pattern=events.EventPattern(
                source=["aws.states"],
                detail_type=["Step Functions Execution Status Change"],
                detail={
                    "status": ["TIMED_OUT", "FAILED", "ABORTED"],
                    "stateMachineArn": [self.state_machine.state_machine_arn],
                },
            ),
            targets=[
                targets.LambdaFunction(
                    self.function, retry_attempts=4, dead_letter_queue=self.cleanup_dead_letters
                )
            ],
        )
        self.cleanup_failed_alarm = queue_not_empty_alarm(
            self,
            "CleanupFailedAlarm",
            self.cleanup_dead_letters,
            (
                "The cleanup of a timed-out, failed or stopped release execution failed (or could not "
                "be delivered): the alias may keep a partial weight and the release stay in progress. "
                "Read the message in the queue, the controller's logs, then `modelctl status` / `abort`"
            ),
        )
        self._acknowledge()

    def _task(self, name: str, step: str, cleanup: sfn.IChainable | None) -> tasks.LambdaInvoke:
        task = tasks.LambdaInvoke(
            self,
            name,
            lambda_function=self.function,
            payload=sfn.TaskInput.from_object({"step": step, "state": sfn.JsonPath.entire_payload}),
            payload_response_only=True,
            task_timeout=sfn.Timeout.duration(cdk.Duration.seconds(TASK_TIMEOUT_S)),
        )
        task.add_retry(
            errors=LAMBDA_SERVICE_ERRORS, interval=cdk.Duration.seconds(2), max_attempts=4, backoff_rate=2
        )
        if cleanup is not None:
            task.add_catch(cleanup, errors=[sfn.Errors.ALL], result_path="$.error")
        return task

    def _await_approval(self, cleanup: sfn.IChainable, decline: sfn.IChainable) -> tasks.LambdaInvoke:
        """The task token goes to the step, which stores it for `modelctl approve|reject`; the
        execution waits for their answer (into $.approval) or the release's approval timeout."""
        task = tasks.LambdaInvoke(
            self,
            "AwaitApproval",
            lambda_function=self.function,
            integration_pattern=sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
            payload=sfn.TaskInput.from_object(
                {
                    "step": "await_approval",
                    "state": sfn.JsonPath.entire_payload,
                    "token": sfn.JsonPath.task_token,
                }
            ),
            result_path="$.approval",
            task_timeout=sfn.Timeout.at("$.release.approval_timeout_s"),
        )
        task.add_retry(
            errors=LAMBDA_SERVICE_ERRORS, interval=cdk.Duration.seconds(2), max_attempts=4, backoff_rate=2
        )
        task.add_catch(decline, errors=[REJECTED_ERROR, sfn.Errors.TIMEOUT], result_path="$.approval_error")
        task.add_catch(cleanup, errors=[sfn.Errors.ALL], result_path="$.error")
        return task

    def _definition(self) -> sfn.IChainable:
        failed = sfn.Fail(self, "Failed", error="ReleaseFailed", cause="a step failed: rolled back")
        cleanup = self._task("CleanUp", "clean_up", None)
        cleanup.add_catch(failed, errors=[sfn.Errors.ALL], result_path="$.cleanup_error")
        cleanup.next(failed)
        begin = self._task("Begin", "begin", cleanup)
        advance = self._task("Advance", "advance", cleanup)
        check = self._task("Check", "check", cleanup)
        finish = self._task("Finish", "finish", cleanup)
        roll_back = self._task("RollBack", "roll_back", cleanup)
        bake = sfn.Wait(self, "Bake", time=sfn.WaitTime.seconds_path("$.release.wait_s"))
        released = sfn.Succeed(self, "Released")
        fired = sfn.Fail(self, "GateFired", error="GateFiredError", cause="a gate fired: rolled back")
        aborted = sfn.Fail(self, "Aborted", error="ReleaseAbortedError", cause="aborted by an operator")
        roll_back.next(fired)
        finish.next(released)
        decline = self._task("Decline", "decline", cleanup)
        await_approval = self._await_approval(cleanup, decline)
        approved = self._task("Approved", "approved", cleanup)
        await_approval.next(approved)
        not_approved = sfn.Fail(
            self, "NotApproved", error="ReleaseNotApprovedError", cause="rejected, or the approval timed out"
        )
        decline.next(
            sfn.Choice(self, "AfterDecline")
            .when(sfn.Condition.string_equals("$.release.next", "aborted"), aborted)
            .otherwise(not_approved)
        )

        def route(name: str) -> sfn.Choice:
            return (
                sfn.Choice(self, name)
                .when(sfn.Condition.string_equals("$.release.next", "bake"), bake)
                .when(sfn.Condition.string_equals("$.release.next", "step"), advance)
                .when(sfn.Condition.string_equals("$.release.next", "fired"), roll_back)
                .when(sfn.Condition.string_equals("$.release.next", "aborted"), aborted)
                .when(sfn.Condition.string_equals("$.release.next", "approve"), await_approval)
                .otherwise(finish)
            )

        after_step, after_check = route("AfterStep"), route("AfterCheck")
        begin.next(route("AfterBegin"))
        approved.next(route("AfterApproval"))
        advance.next(after_step)
        bake.next(check)
        check.next(after_check)
        return begin

    def _acknowledge(self) -> None:
        reasons = {
            "Action::s3:GetObject*": "read-only access to the registry's models/ prefix (grant_read)",
            "Action::s3:GetBucket*": "read-only access to the registry's models/ prefix (grant_read)",
            "Action::s3:List*": "read-only access to the registry's models/ prefix (grant_read)",
            "Resource::*": "X-Ray segments and Step Functions' log delivery accept no narrower resource",
        }
        for policy in (c for c in self.node.find_all() if isinstance(c, iam.CfnPolicy)):
            for finding in wildcard_findings(policy):
                if finding in reasons:
                    reason = reasons[finding]
                elif any(f"/{prefix}*" in finding for prefix in LOG_PREFIXES):
                    reason = "the quality gate reads the prediction log and feedback (hour partitions)"
                elif finding.endswith(":*") or "/models/*" in finding or f":alarm:{GATE_PREFIX}" in finding:
                    reason = (
                        "the serving function's versions (alias weights, pre-traffic check), the "
                        "registry's models/ prefix, this controller's own function, and the gate "
                        "alarms named per version at release time"
                    )
                else:
                    raise ValueError(f"unexpected wildcard in {policy.node.path}: {finding}; review it first")
                acknowledge(policy, {f"AwsSolutions-IAM5[{finding}]": reason})
        acknowledge(
            self.function,
            {
                "Serverless-LambdaDLQ": "its asynchronous invocation (the cleanup) has an on-failure "
                "destination, CleanupDeadLetters, with an alarm; the state machine calls it synchronously"
            },
        )
        acknowledge(
            self.cleanup_dead_letters,
            {
                "AwsSolutions-SQS3": "it is itself the dead-letter queue of the cleanup invocation",
                "Serverless-SQSRedrivePolicy": "it is itself the dead-letter queue of the cleanup invocation",
            },
        )
