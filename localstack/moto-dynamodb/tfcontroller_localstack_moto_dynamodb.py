"""A LocalStack service provider that answers every DynamoDB operation with moto.

LocalStack's own DynamoDB provider forwards to DynamoDB Local, which needs a Java runtime and a jar
downloaded at start-up; neither is available on an offline host. The generated `DynamodbApi` base class
raises NotImplementedError for every operation, and LocalStack's `MotoFallbackDispatcher` turns exactly
that into a call into the moto backend that LocalStack already bundles (moto-ext). Selected with
`PROVIDER_OVERRIDE_DYNAMODB=moto`; discovered through this distribution's entry point.
"""

from localstack.aws.api.dynamodb import DynamodbApi
from localstack.services.moto import MotoFallbackDispatcher
from localstack.services.plugins import Service, aws_provider


class MotoDynamoDBProvider(DynamodbApi):
    """Implements nothing itself, so that every operation falls through to moto."""


@aws_provider(api="dynamodb", name="moto")
def dynamodb_moto() -> Service:
    return Service.for_provider(MotoDynamoDBProvider(), dispatch_table_factory=MotoFallbackDispatcher)
