"""Alarms: processIngest, maintenance and read-model fold errors, batches backed up to the
failure prefix, stale deliveries.

All alarms notify one SNS topic; `alarm_email` (context) subscribes an address to it.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from analytics_infra.lake import FAILURE_METRICS_ID
from analytics_infra.nag import acknowledge

# Firehose's own freshness metric per destination type.
HTTP_FRESHNESS_METRIC = "DeliveryToHttpEndpoint.DataFreshness"
ICEBERG_FRESHNESS_METRIC = "DeliveryToIceberg.DataFreshness"
# IngestHttp buffers 60 s and retries; 15 minutes means deliveries are failing, not slow.
HTTP_FRESHNESS_LIMIT = Duration.minutes(15)
# The Iceberg streams buffer up to 900 s by design; twice that means they are stuck.
ICEBERG_FRESHNESS_LIMIT = Duration.minutes(30)
# The fold runs every minute; one failed run is retried by the next, 15 minutes of them is not.
FOLD_STATS_FAILING_PERIODS = 3


class Alarms(Construct):
    """The operational alarms and their topic."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        process_ingest: lambda_.IFunction,
        maintenance: lambda_.IFunction,
        fold_stats: lambda_.IFunction,
        bucket: s3.IBucket,
        ingest_http: firehose.CfnDeliveryStream,
        iceberg_streams: dict[str, firehose.CfnDeliveryStream],
        alarm_email: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(self, "Topic", display_name="Analytics alarms", enforce_ssl=True)
        acknowledge(
            self.topic,
            "AwsSolutions-SNS2",
            "Alarm notifications carry no data, and CloudWatch cannot publish to a topic "
            "encrypted with the AWS-managed SNS key.",
        )
        if alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(alarm_email))
        action = actions.SnsAction(self.topic)
        five_minutes = Duration.minutes(5)

        self.alarms: dict[str, cloudwatch.Alarm] = {}
        self.alarms["ProcessIngestErrors"] = process_ingest.metric_errors(
            period=five_minutes, statistic="Sum"
        ).create_alarm(
            self,
            "ProcessIngestErrors",
            alarm_description="processIngest failed batches (Firehose will retry, then back up)",
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.alarms["MaintenanceErrors"] = maintenance.metric_errors(
            period=Duration.hours(1), statistic="Sum"
        ).create_alarm(
            self,
            "MaintenanceErrors",
            alarm_description="Partition maintenance failed: tomorrow's partitions may be missing",
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.alarms["FoldStatsErrors"] = fold_stats.metric_errors(
            period=five_minutes, statistic="Sum"
        ).create_alarm(
            self,
            "FoldStatsErrors",
            alarm_description=(
                "Read-model fold failing: dashboards fold at query time and get slower as the "
                "backlog grows"
            ),
            threshold=1,
            evaluation_periods=FOLD_STATS_FAILING_PERIODS,
            datapoints_to_alarm=FOLD_STATS_FAILING_PERIODS,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.alarms["FailedBatchesBackedUp"] = cloudwatch.Metric(
            namespace="AWS/S3",
            metric_name="PutRequests",
            dimensions_map={"BucketName": bucket.bucket_name, "FilterId": FAILURE_METRICS_ID},
            statistic="Sum",
            period=five_minutes,
        ).create_alarm(
            self,
            "FailedBatchesBackedUp",
            alarm_description=(
                "Objects arrived under http-firehose-failures/: batches were lost to the backup; "
                "replay them with `analytics replay`"
            ),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        streams = [("IngestHttp", ingest_http, HTTP_FRESHNESS_METRIC, HTTP_FRESHNESS_LIMIT)]
        streams += [
            (name, stream, ICEBERG_FRESHNESS_METRIC, ICEBERG_FRESHNESS_LIMIT)
            for name, stream in iceberg_streams.items()
        ]
        for name, stream, metric_name, limit in streams:
            alarm_id = f"{name.title().replace('_', '')}Freshness"
            self.alarms[alarm_id] = cloudwatch.Metric(
                namespace="AWS/Firehose",
                metric_name=metric_name,
                dimensions_map={"DeliveryStreamName": stream.ref},
                statistic="Maximum",
                period=five_minutes,
            ).create_alarm(
                self,
                alarm_id,
                alarm_description=(
                    f"Firehose {name}: oldest undelivered record older than "
                    f"{limit.to_minutes()} min"
                ),
                threshold=limit.to_seconds(),
                evaluation_periods=2,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
        for alarm in self.alarms.values():
            alarm.add_alarm_action(action)
