"""The ingest use case: one Firehose batch of envelopes in, stored rows and outcomes out.

Every record ends in exactly one outcome and the counts add up to the batch size. A bad
record is counted and skipped, never fatal; only infrastructure faults (the event store, the
cold forwarder) fail the batch, and then the event store has committed nothing of it, or (when
only the cold forward failed) everything, so that the redelivered batch finds duplicates and
forwards them again.

A record is malformed when its envelope or tracker body breaks the rules, and also when
anything at all goes wrong while it is decoded, checked, enriched, filtered or made into a row:
such a failure is the record's, never the batch's (it is counted, and its exception's class is
reported in `BatchResult.errors`, never its content). Only an `InfrastructureError` raised on
the way (a day's salt that cannot be read) stops the batch.

Rules are checked in this order, the first failing one naming the outcome: malformed (the
envelope or the tracker body), duplicate (the same event uid earlier in this batch),
unknown_site, domain_mismatch, bot; then the event store decides, under the site's row lock,
between accepted, duplicate (stored by an earlier delivery) and over_allowance.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date, datetime
from typing import Any

import attrs

from analytics_core.enrichment import session_columns
from analytics_core.envelopes import Envelope, EnvelopeRecord
from analytics_core.errors import InfrastructureError
from analytics_core.limits import EVENT_NAME, PATHNAME, SESSION_ID, clean_properties
from analytics_core.outcomes import Outcome, OutcomeTally, SiteConfig
from analytics_core.ports import (
    ColdForwarder,
    DailySalts,
    EventStore,
    GeoLookup,
    SiteConfigs,
    UserAgentParser,
)
from analytics_core.privacy import (
    filter_city,
    filter_pathname,
    filter_properties,
    filter_referer,
    filter_region,
    filter_text,
    is_personal,
    redact_text,
    session_hasher,
)
from analytics_core.rows import EventRow, InitialEventRow, Row
from analytics_core.sites import ComplianceLevel
from analytics_core.user_agents import BOT, UserAgentInfo
from analytics_core.validation import (
    EventKind,
    Payload,
    domain_allowed,
    event_time,
    is_site_id,
    parse_payload,
)


@attrs.frozen
class IngestPorts:
    """The ports `process_batch` works through."""

    site_configs: SiteConfigs
    event_store: EventStore
    cold_forwarder: ColdForwarder[Any]
    salts: DailySalts
    user_agents: UserAgentParser
    geo: GeoLookup | None = None


@attrs.frozen
class BatchResult:
    """One outcome per record (in order) and the rows the batch stored.

    `events` and `initial_events` hold the rows now in the hot store for this batch, inserted
    now or by an earlier delivery: exactly what was forwarded to the cold store.
    """

    outcomes: tuple[Outcome, ...]
    events: tuple[EventRow, ...]
    initial_events: tuple[InitialEventRow, ...]
    errors: Mapping[str, int] = attrs.field(factory=dict)
    """Records made malformed by an exception, by the exception's class name."""

    @property
    def rows_written(self) -> int:
        """How many rows this delivery inserted: its accepted records."""
        return self.outcomes.count(Outcome.ACCEPTED)

    def counts(self) -> dict[str, int]:
        """Records per outcome, every outcome present (zeros included)."""
        found = Counter(self.outcomes)
        return {outcome.value: found[outcome] for outcome in Outcome}


class _RowBuilder:
    """Builds the stored row of an accepted record, fetching level-0 salts once per day."""

    def __init__(self, ports: IngestPorts) -> None:
        self._ports = ports
        self._hashers: dict[date, Callable[[str, str], str]] = {}

    def _session_id(self, config: SiteConfig, payload: Payload, day: date) -> str:
        """The level-0 session id: the HMAC with the day's salt."""
        hasher = self._hashers.get(day)
        if hasher is None:
            hasher = self._hashers[day] = session_hasher(self._ports.salts.salt_for(day))
        return hasher(config.site_id, payload.session_id)

    def build(
        self,
        envelope: Envelope,
        config: SiteConfig,
        payload: Payload,
        agent: UserAgentInfo,
        timestamp: datetime,
    ) -> Row:
        level = config.compliance_level
        day = timestamp.date()
        if level is ComplianceLevel.REQUIRED:
            session_id = self._session_id(config, payload, day)
        elif level is ComplianceLevel.MAYBE and is_personal(payload.session_id):
            # An id made of an e-mail or an IP address is stored as level 0 stores every id.
            session_id = self._session_id(config, payload, day)
        else:
            session_id = payload.session_id[:SESSION_ID]
        private = level is not ComplianceLevel.NOT_REQUIRED
        event = redact_text(payload.event) if private else payload.event
        event = event[:EVENT_NAME]
        pathname = filter_pathname(level, payload.pathname)[:PATHNAME]
        properties = payload.properties
        if properties is not None:
            properties = filter_properties(level, clean_properties(properties))
        # Rows are built with positional arguments, in field order (EVENT_COLUMNS, then
        # SESSION_COLUMNS): the fields are the columns, and positions are cheaper than keywords.
        if payload.kind is EventKind.EVENT:
            return EventRow(
                envelope.uid,
                config.site_id,
                session_id,
                timestamp,
                day,
                event,
                pathname,
                properties,
            )
        (
            referer,
            referer_domain,
            utm_source,
            utm_medium,
            utm_campaign,
            utm_content,
            utm_term,
            device,
            os,
            browser,
            country,
            region,
            city,
            screen_width,
            screen_height,
        ) = session_columns(payload, envelope.ctx, config.domains, agent, self._ports.geo)
        if private:  # the texts of levels 0 and 1: without e-mail or IP addresses
            if referer_domain is not None:
                referer_domain = redact_text(referer_domain)
            if utm_source is not None or utm_medium is not None or utm_campaign is not None:
                utm_source = filter_text(level, utm_source)
                utm_medium = filter_text(level, utm_medium)
                utm_campaign = filter_text(level, utm_campaign)
            if utm_content is not None or utm_term is not None:
                utm_content = filter_text(level, utm_content)
                utm_term = filter_text(level, utm_term)
            if os is not None:
                os = redact_text(os)
            if browser is not None:
                browser = redact_text(browser)
        return InitialEventRow(
            envelope.uid,
            config.site_id,
            session_id,
            timestamp,
            day,
            event,
            pathname,
            properties,
            filter_referer(level, referer),
            referer_domain,
            utm_source,
            utm_medium,
            utm_campaign,
            utm_content,
            utm_term,
            device,
            os,
            browser,
            country,
            filter_region(level, region),
            filter_city(level, city),
            screen_width,
            screen_height,
        )


_Checked = tuple[int, Envelope, SiteConfig, Payload, UserAgentInfo, datetime]
"""A record that passed every check: its index, envelope, site, body, agent and time."""


class _Batch:
    """One batch's records on their way to rows: outcomes and tallies as they are decided."""

    def __init__(
        self,
        records: Sequence[Envelope | EnvelopeRecord | None],
        site_ids: set[str],
        configs: Mapping[str, SiteConfig],
        ports: IngestPorts,
    ) -> None:
        self.records = records
        self.site_ids = site_ids
        self.configs = configs
        self.ports = ports
        self.outcomes: list[Outcome] = [Outcome.MALFORMED] * len(records)
        self.tallies: Counter[tuple[str, date, Outcome]] = Counter()
        self.errors: Counter[str] = Counter()
        self.rows: list[Row] = []
        self.row_records: list[int] = []  # the record of each row
        self.prepared: list[Any] = []  # each row made ready for the cold forward
        self._prepare = ports.cold_forwarder.prepare
        self._builder = _RowBuilder(ports)
        self._seen: set[str] = set()
        # Whether a site accepts requests from an (Origin, Referer) pair, memoised for the
        # batch: a batch's records come from a few pages of a few sites.
        self._origins: dict[tuple[str, str | None, str | None], bool] = {}

    def expected(self) -> Counter[str]:
        """Every site a row or tally can belong to (the known ones), with its record count
        (at most one row a record)."""
        configs = self.configs
        return Counter(
            e.site_id for e in self.records if e is not None and configs.get(e.site_id) is not None
        )

    def built(self) -> Iterator[Row]:
        """The rows to store, built one at a time (the store may write each as it comes);
        the other records' outcomes and tallies on the way, in record order.

        Plain events come first, then the initial events (each in record order): the store
        writes each table with its own COPY, one after the other, so it can write both while
        the rows are being built. This order keeps the database busy all along: the first
        pass checks every record (the most Python work) while the events (the most rows) are
        written; the initial events (the most enrichment) are built while they are.

        Each table's rows are prepared for the cold forward once the last of them has been
        handed over, while the database may still be taking in the rows sent before; the
        cold forward after the transaction then only sends."""
        build = self._builder.build
        keep_row, keep_record = self.rows.append, self.row_records.append
        for checked in self._events_first():
            if checked is None:  # every plain event is out: prepare them while the rest goes
                self._prepare_rows()
                continue
            index, envelope, config, payload, agent, timestamp = checked
            try:
                row = build(envelope, config, payload, agent, timestamp)
            except InfrastructureError:
                raise
            except Exception as exc:  # noqa: BLE001  # the record's failure, not the batch's
                self._fail(index, envelope, exc)
                continue
            keep_row(row)
            keep_record(index)
            yield row
        self._prepare_rows()

    def _events_first(self) -> Iterator[_Checked | None]:
        """The checked records, plain events first, then None, then the initial events."""
        later: list[_Checked] = []
        for checked in self._checked():
            if checked[3].kind is EventKind.EVENT:
                yield checked
            else:
                later.append(checked)
        yield None
        yield from later

    def _prepare_rows(self) -> None:
        """Prepare the rows built since the last call for the cold forward."""
        prepared = self.prepared
        prepared.extend(map(self._prepare, self.rows[len(prepared) :]))

    def _checked(self) -> Iterator[_Checked]:
        """The records that pass every check, with what building their row needs; the
        outcomes and tallies of the others."""
        tallies, configs, site_ids = self.tallies, self.configs, self.site_ids
        seen, origins, user_agents = self._seen, self._origins, self.ports.user_agents
        for index, record in enumerate(self.records):
            if record is None or record.site_id not in site_ids:
                continue  # malformed, and no site to count it against
            envelope: Envelope | None = None
            try:
                envelope = record if isinstance(record, Envelope) else record.envelope()
                if envelope is None:
                    continue  # malformed (a record's site is not trusted before its checks)
                config = configs.get(envelope.site_id)
                payload = parse_payload(envelope.payload)
                if payload is None:
                    if config is not None:
                        tallies[config.site_id, envelope.received_at.date(), Outcome.MALFORMED] += 1
                    continue
                timestamp = event_time(payload.timestamp_ms, envelope.received_at)
                outcome = _precheck(envelope, config, seen, user_agents, origins)
            except InfrastructureError:
                raise
            except Exception as exc:  # noqa: BLE001  # the record's failure, not the batch's
                self._fail(index, envelope, exc)
                continue
            if isinstance(outcome, Outcome):
                self.outcomes[index] = outcome
                if config is not None:
                    tallies[config.site_id, timestamp.date(), outcome] += 1
                continue
            assert config is not None  # noqa: S101  # _precheck answers unknown_site otherwise
            yield index, envelope, config, payload, outcome, timestamp

    def _fail(self, index: int, envelope: Envelope | None, exc: Exception) -> None:
        """Record `index` is malformed because `exc` was raised on its way to a row: counted
        against its site (when its envelope was read and names a known site) and by the
        exception's class, never by its content."""
        self.outcomes[index] = Outcome.MALFORMED
        self.errors[type(exc).__name__] += 1
        if envelope is None:
            return
        config = self.configs.get(envelope.site_id)
        if config is not None:
            self.tallies[config.site_id, envelope.received_at.date(), Outcome.MALFORMED] += 1

    def rejected(self) -> Iterator[OutcomeTally]:
        """The tallies; complete once `built()` is exhausted (the store reads them after)."""
        for (site, day, outcome), n in self.tallies.items():
            yield OutcomeTally(site, day, outcome, n)


def process_batch(
    records: Sequence[Envelope | EnvelopeRecord | None], ports: IngestPorts
) -> BatchResult:
    """Validate, enrich, filter and store one batch, then forward its rows to the cold store.

    `records[i]` is an envelope, a record decoded into one as the batch gets to it, or None
    when the i-th record could not be read at all. Raises
    an `InfrastructureError` (nothing stored, or everything stored but not all forwarded)
    when a dependency fails; see the module docstring. The rows are handed to the event store
    as they are built, so that it can write them meanwhile.
    """
    named = {e.site_id for e in records if e is not None}
    site_ids = {site_id for site_id in named if is_site_id(site_id)}
    configs = ports.site_configs.load(site_ids) if site_ids else {}
    batch = _Batch(records, site_ids, configs, ports)
    expected = batch.expected()
    stored: Sequence[Outcome] = ()
    if expected:
        stored = ports.event_store.store(batch.built(), batch.rejected(), expected=expected)
    else:
        deque(batch.built(), maxlen=0)  # no known site, so no row: the outcomes only
    outcomes = batch.outcomes
    events: list[EventRow] = []
    initial_events: list[InitialEventRow] = []
    cold_events: list[Any] = []
    cold_initial_events: list[Any] = []
    rows = zip(batch.rows, batch.row_records, stored, batch.prepared, strict=True)
    for row, index, outcome, prepared in rows:
        outcomes[index] = outcome
        if outcome not in (Outcome.ACCEPTED, Outcome.DUPLICATE):
            continue
        if isinstance(row, InitialEventRow):
            initial_events.append(row)
            cold_initial_events.append(prepared)
        else:
            events.append(row)
            cold_events.append(prepared)
    if events or initial_events:
        ports.cold_forwarder.forward(cold_events, cold_initial_events)
    return BatchResult(
        outcomes=tuple(outcomes),
        events=tuple(events),
        initial_events=tuple(initial_events),
        errors=dict(batch.errors),
    )


def _precheck(
    envelope: Envelope,
    config: SiteConfig | None,
    seen: set[str],
    user_agents: UserAgentParser,
    origins: dict[tuple[str, str | None, str | None], bool],
) -> Outcome | UserAgentInfo:
    """The rejecting outcome of a well-formed record, else its user agent's classification."""
    uid = envelope.uid
    if uid in seen:
        return Outcome.DUPLICATE
    seen.add(uid)
    if config is None:
        return Outcome.UNKNOWN_SITE
    ctx = envelope.ctx
    key = (config.site_id, ctx.origin, ctx.referer)
    allowed = origins.get(key)
    if allowed is None:
        allowed = origins[key] = domain_allowed(ctx, config.domains)
    if not allowed:
        return Outcome.DOMAIN_MISMATCH
    user_agent = ctx.user_agent
    agent = user_agents.parse(user_agent) if user_agent and user_agent.strip() else BOT
    return Outcome.BOT if agent.is_bot else agent
