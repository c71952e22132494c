"""Which contract tests hold which adapters to which port (acceptance 3 of issue 17).

Every `typing.Protocol` of `analytics_core.ports` has one entry: the contract tests (pytest
ids, `file::function`) that run against each of its fakes (in-memory or local stand-ins, which
unit tests and the local stack use) and each of its real adapters (PostgreSQL, AWS through
moto, files), every one parametrised over them. tests/unit/test_contracts.py checks the entry
against the code: every port has one, every adapter named implements the port and is named by a
listed test module, and every class of `adapters` shaped like a port is listed.
"""

from __future__ import annotations

import attrs


@attrs.frozen
class Contract:
    """A port's contract tests and the adapters they run against (`module:Class`)."""

    port: str
    tests: tuple[str, ...]
    fakes: tuple[str, ...]
    reals: tuple[str, ...]
    no_fake: str | None = None  # why a port has no fake (then `fakes` is empty)


_I = "tests/integration/"

CONTRACTS = (
    Contract(
        "SiteRepository",
        (
            f"{_I}test_repository_contract.py::test_add_applies_defaults_and_round_trips",
            f"{_I}test_repository_contract.py::test_scoping_by_owner",
            f"{_I}test_repository_contract.py::test_list_is_oldest_first",
            f"{_I}test_repository_contract.py::test_update_changes_only_editable_fields",
            f"{_I}test_site_timezone_contract.py::test_a_sites_time_zone_is_stored_utc_by_default_and_changed_by_an_update",
        ),
        ("adapters.memory:InMemorySiteRepository",),
        ("adapters.postgres.sites:PostgresSiteRepository",),
    ),
    Contract(
        "AccountRepository",
        (f"{_I}test_repository_contract.py::test_accounts_get_or_create_and_save",),
        ("adapters.memory:InMemoryAccountRepository",),
        ("adapters.postgres.sites:PostgresAccountRepository",),
    ),
    Contract(
        "EventPartitions",
        (f"{_I}test_port_contracts.py::test_partitions_are_created_once_and_dropped",),
        ("adapters.memory:InMemoryEventPartitions",),
        ("adapters.postgres.partitions:PostgresEventPartitions",),
    ),
    Contract(
        "ColdForwarder",
        (f"{_I}test_port_contracts.py::test_a_forward_delivers_every_prepared_row",),
        ("adapters.memory:InMemoryColdForwarder", "adapters.lake:LocalLakeColdForwarder"),
        ("adapters.aws.firehose:FirehoseColdForwarder",),
    ),
    Contract(
        "IngestStream",
        (f"{_I}test_port_contracts.py::test_a_stream_takes_each_record_as_is",),
        ("adapters.memory:InMemoryIngestStream", "adapters.local.firehose:LocalFirehoseStream"),
        ("adapters.aws.firehose:FirehoseIngestStream",),
    ),
    Contract(
        "FailureObjectStore",
        (
            f"{_I}test_failure_stores.py::test_listing_finds_every_object_except_the_archive_oldest_first",
            f"{_I}test_failure_stores.py::test_archive_moves_the_object_under_the_prefix",
            f"{_I}test_failure_stores.py::test_a_missing_object_is_an_infrastructure_error",
        ),
        ("adapters.local.failures:LocalFailureObjects",),
        ("adapters.aws.failures:S3FailureObjects",),
    ),
    Contract(
        "SiteConfigs",
        (f"{_I}test_port_contracts.py::test_site_configs_load_the_sites_that_exist",),
        ("adapters.memory:InMemorySiteConfigs",),
        ("adapters.postgres.site_configs:PostgresSiteConfigs",),
    ),
    Contract(
        "EventStore",
        (
            f"{_I}test_event_store.py::test_new_rows_are_stored_charged_and_counted",
            f"{_I}test_event_store.py::test_redelivered_and_overlapping_rows_are_duplicates_and_free",
            f"{_I}test_event_store.py::test_the_same_uid_twice_in_one_call_is_stored_once",
            f"{_I}test_event_store.py::test_allowance_admits_new_rows_in_order_and_stops_at_zero",
            f"{_I}test_event_store.py::test_rows_of_a_vanished_site_are_unknown",
            f"{_I}test_event_store.py::test_many_rows_of_many_days",
        ),
        ("adapters.memory:InMemoryEventStore",),
        ("adapters.postgres.events:PostgresEventStore",),
    ),
    Contract(
        "IngestOutcomes",
        (
            f"{_I}test_ingest_outcomes_contract.py::test_outcomes_are_read_back_per_day_within_the_range",
        ),
        ("adapters.memory:InMemoryIngestOutcomes",),
        ("adapters.postgres.ingest_outcomes:PostgresIngestOutcomes",),
    ),
    Contract(
        "Plans",
        (
            f"{_I}test_plans_contract.py::test_plans_are_listed_saved_and_assigned",
            f"{_I}test_plans_contract.py::test_a_new_period_renews_each_due_site_once_in_batches",
        ),
        ("adapters.memory:InMemoryPlans",),
        ("adapters.postgres.plans:PostgresPlans",),
    ),
    Contract(
        "DailySalts",
        (
            f"{_I}test_ingest_config_and_salts.py::test_a_salt_is_random_created_once_per_day_and_deleted",
        ),
        ("adapters.memory:InMemoryDailySalts",),
        ("adapters.postgres.salts:PostgresDailySalts",),
    ),
    Contract(
        "UserAgentParser",
        (f"{_I}test_geoip_and_useragents.py::test_real_user_agents_are_classified",),
        (),
        ("adapters.useragents:UaParserUserAgents",),
        no_fake="ua-parser runs in process without I/O: unit tests use the real parser",
    ),
    Contract(
        "GeoLookup",
        (f"{_I}test_port_contracts.py::test_geo_lookup_knows_its_addresses_only",),
        ("adapters.memory:InMemoryGeoLookup",),
        ("adapters.geoip:GeoIP2CityLookup",),
    ),
    Contract(
        "StatsReader",
        (
            f"{_I}test_stats_hand_built.py::test_totals",
            f"{_I}test_stats_hand_built.py::test_daily_timeseries",
            f"{_I}test_athena_stats.py::test_query_runs_in_the_workgroup_and_results_are_mapped",
            f"{_I}test_query_depth_stores.py::test_every_store_gives_the_hand_computed_answer",
        ),
        ("adapters.memory_stats:InMemoryStatsReader", "adapters.lake:LocalStatsReader"),
        (
            "adapters.postgres.stats:PostgresStatsReader",
            "adapters.postgres.fact_blocks:FactBlockStatsReader",
            "adapters.aws.athena:AthenaStatsReader",
        ),
    ),
    Contract(
        "RealtimeReader",
        (
            f"{_I}test_realtime_contract.py::test_realtime_counts_the_sessions_of_the_window_and_ranks_their_pages",
        ),
        ("adapters.memory_realtime:InMemoryRealtimeReader",),
        ("adapters.postgres.realtime:PostgresRealtimeReader",),
    ),
    Contract(
        "ReadModel",
        (
            f"{_I}test_read_model_contract.py::test_a_fold_takes_in_the_pending_rows_of_its_sites_only",
            f"{_I}test_read_model_contract.py::test_a_rebuild_takes_in_every_stored_row_of_its_sites",
            f"{_I}test_read_model_contract.py::test_a_rebuild_naming_an_unknown_site_does_nothing",
            f"{_I}test_read_model_contract.py::test_expiry_forgets_the_sessions_that_ended_before_a_day",
            f"{_I}test_read_model_contract.py::test_forgetting_local_days_loses_no_answer",
        ),
        ("adapters.memory_stats:InMemoryReadModel",),
        ("adapters.postgres.read_model:PostgresReadModel",),
    ),
    Contract(
        "HotCoverage",
        (
            f"{_I}test_hot_coverage_contract.py::test_fresh_store_is_complete_for_every_day",
            f"{_I}test_hot_coverage_contract.py::test_set_read_clear_and_move_back",
        ),
        ("adapters.memory:InMemoryHotCoverage",),
        ("adapters.postgres.coverage:PostgresHotCoverage",),
    ),
    Contract(
        "ColdEventSource",
        (
            f"{_I}test_backfill_contract.py::test_cold_rows_are_one_per_event_ordered_by_session",
            f"{_I}test_backfill_contract.py::test_cold_daily_counts",
            f"{_I}test_athena_cold_events.py::test_rows_are_read_page_by_page_and_mapped",
            f"{_I}test_athena_cold_events.py::test_initial_rows_and_daily_counts_are_mapped",
        ),
        ("adapters.memory_stats:InMemoryStatsReader", "adapters.lake:LocalLakeColdEvents"),
        ("adapters.aws.athena:AthenaColdEvents",),
    ),
    Contract(
        "HotEventCopies",
        (
            f"{_I}test_backfill_contract.py::test_hot_copies_insert_once",
            f"{_I}test_backfill_contract.py::test_copied_rows_reach_the_read_model",
        ),
        ("adapters.memory_stats:InMemoryHotEventCopies",),
        ("adapters.postgres.backfill:PostgresHotEventCopies",),
    ),
    Contract(
        "LegacyTables",
        (f"{_I}test_port_contracts.py::test_legacy_tables_describe_and_scan_every_item",),
        ("adapters.memory_legacy:InMemoryLegacyTables",),
        ("adapters.aws.dynamodb:DynamoDBLegacyTables",),
    ),
    Contract(
        "LegacyImportTarget",
        (f"{_I}test_import_dynamodb.py::test_targets_create_update_or_leave_rows_alike",),
        ("adapters.memory_legacy:InMemoryLegacyImportTarget",),
        ("adapters.postgres.legacy_import:PostgresLegacyImportTarget",),
    ),
    Contract(
        "SiteDeletions",
        (
            f"{_I}test_site_deletion_contract.py::test_a_deletion_removes_the_owners_site_and_tracks_its_cold_job",
            f"{_I}test_site_deletion.py::test_delete_leaves_no_row_of_the_site_in_any_table_or_the_lake",
        ),
        ("adapters.memory_deletion:InMemorySiteDeletions",),
        ("adapters.postgres.deletions:PostgresSiteDeletions",),
    ),
    Contract(
        "ColdSiteEraser",
        (
            f"{_I}test_site_deletion_contract.py::test_an_erasure_removes_the_sites_cold_rows_only_and_can_be_repeated",
        ),
        (
            "adapters.memory_deletion:InMemoryColdSiteEraser",
            "adapters.lake:LocalLakeColdSiteEraser",
        ),
        ("adapters.aws.athena:AthenaColdSiteEraser",),
    ),
)
"""One entry per port of `analytics_core.ports`."""

NOT_ADAPTERS = {
    ("IngestStream", "adapters.memory:InMemorySiteRepository"): (
        "its `put` stores a whole site for tests and the local stack; it takes no envelope"
    ),
    ("IngestStream", "adapters.postgres.fact_blocks:BlockCache"): (
        "its `put` keeps a decoded fact block in the process cache; it takes no envelope"
    ),
}
"""(port, class) pairs of `adapters` shaped like the port that are no adapter of it, with
the reason."""
