"""The inference API's access log formats: one JSON line per request, for the REST API's stage
(CDK's `AccessLogField`s) and for the HTTP API's `$default` stage (its `$context` variables)."""

from __future__ import annotations

import json

from aws_cdk import aws_apigateway as apigw


def access_log_format() -> apigw.AccessLogFormat:
    fields = {
        "requestId": apigw.AccessLogField.context_request_id(),
        "requestTime": apigw.AccessLogField.context_request_time(),
        "ip": apigw.AccessLogField.context_identity_source_ip(),
        "caller": apigw.AccessLogField.context_identity_caller(),
        "user": apigw.AccessLogField.context_identity_user(),
        "apiKeyId": apigw.AccessLogField.context_identity_api_key_id(),
        "httpMethod": apigw.AccessLogField.context_http_method(),
        "resourcePath": apigw.AccessLogField.context_resource_path(),
        "protocol": apigw.AccessLogField.context_protocol(),
        "status": apigw.AccessLogField.context_status(),
        "responseLength": apigw.AccessLogField.context_response_length(),
        "responseLatency": apigw.AccessLogField.context_response_latency(),
        "integrationLatency": apigw.AccessLogField.context_integration_latency(),
        "integrationStatus": apigw.AccessLogField.context_integration_status(),
        "errorType": apigw.AccessLogField.context_error_response_type(),
        "errorMessage": apigw.AccessLogField.context_error_message(),
        "xrayTraceId": apigw.AccessLogField.context_xray_trace_id(),
    }
    return apigw.AccessLogFormat.custom(json.dumps(fields, separators=(",", ":")))


HTTP_ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "requestTime": "$context.requestTime",
    "ip": "$context.identity.sourceIp",
    "caller": "$context.identity.caller",
    "user": "$context.identity.user",
    "httpMethod": "$context.httpMethod",
    "routeKey": "$context.routeKey",
    "protocol": "$context.protocol",
    "status": "$context.status",
    "responseLength": "$context.responseLength",
    "responseLatency": "$context.responseLatency",
    "integrationLatency": "$context.integrationLatency",
    "integrationStatus": "$context.integrationStatus",
    "errorMessage": "$context.error.message",
}
