"""Drives MetaApi's official risk management SDK against Riskdeck's risk management API.

MetaApi's official Python SDK (metaapi-cloud-sdk 29.1.1, its `RiskManagement` client,
`metaapi_cloud_sdk.risk_management`) talks to a running `riskdeck serve` that serves MetaApi's
risk management API (docs/METAAPI-RISK-API.md): trackers created, listed, read by id and by
name, renamed and deleted; validation, not-found, other-account and bad-token errors as the SDK's
own exceptions; period statistics and the equity chart of a live account; a threshold event
received through the SDK's tracker event listener (its long poll) and read again by broker time;
and the SDK's three streaming listeners (period statistics, equity chart, equity and balance),
which follow the account over MetaApi's streaming API (here the demo broker that `riskdeck serve
--demo` embeds) and call Riskdeck only for the tracker, real-time statistics and chart.

    python metaapi_risk.py --url http://127.0.0.1:PORT --token TOKEN --account ACCOUNT_ID \
        --foreign-account OTHER_ACCOUNT_ID --demo-broker http://127.0.0.1:PORT2 \
        [--demo-token demo-token]

TOKEN is a Riskdeck API token (the SDK's `auth-token` header) allowed to see ACCOUNT_ID only;
OTHER_ACCOUNT_ID is a real account it may not see. ACCOUNT_ID must be live, its equity moving
(the demo accounts' random walk crosses the tiny thresholds of the event check within seconds).
The demo broker (`Demo broker ...: http://...` in what `riskdeck serve --demo` prints) must
serve ACCOUNT_ID's stream to the demo token; without `--demo-broker`, or when it refuses the
token, the three streaming listener checks fail saying so.
Prints `PASS name` or `FAIL name: why` per check and `N passed, M failed`; exits non-zero on any
failure. Takes well under two and a half minutes; every call is bounded by a timeout. Run it in a
scratch directory or not: it works in a temporary one (MetaApi's SDK writes `./.metaapi/`).
"""

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone

from metaapi_cloud_sdk.clients.error_handler import (
    ForbiddenException,
    NotFoundException,
    UnauthorizedException,
    ValidationException,
)
from metaapi_cloud_sdk.clients.domain_client import DomainClient as MetaApiDomainClient
from metaapi_cloud_sdk.risk_management import (
    EquityBalanceListener,
    EquityChartListener,
    PeriodStatisticsListener,
    RiskManagement,
    TrackerEventListener,
)
from metaapi_cloud_sdk.risk_management.clients.domain_client import DomainClient

from common import Report

# The SDK's options. `domain` is never reached (the host update below is replaced), but a
# reserved name makes sure that a request escaping the patch can go nowhere real.
SDK_OPTIONS = {'domain': 'riskdeck.invalid', 'requestTimeout': 10, 'extendedTimeout': 70}
# Wall-clock bound of the whole run, and of one check.
RUN_TIMEOUT = 150
CALL_TIMEOUT = 20
STATISTICS_WAIT = 10
CHART_WAIT = 15
EVENT_WAIT = 60
# Each streaming listener: from adding it to its first callback, connecting and synchronizing
# included (about 3 s each against the demo broker).
STREAM_WAIT = 20
# The one region the SDK's account is given (any name: the server URL is set, not looked up).
REGION = 'demo'
# Wide bounds for events by broker time when no event came through the listener.
EARLIEST, LATEST = '2000-01-01 00:00:00.000', '2100-01-01 00:00:00.000'


class Failed(Exception):
    """A check's own finding (printed without the exception's type)."""


def require(condition, why):
    if not condition:
        raise Failed(why)


def is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def risk_management(token, base_url):
    """A `RiskManagement` whose every risk API request goes to `base_url` (no region lookup).

    Must run inside a running asyncio loop: `RiskManagement.__init__` builds a whole `MetaApi`,
    whose websocket client, latency service and packet orderer start `asyncio.create_task`
    interval jobs at once (they only sleep; MetaApi connects nowhere until an account is used).

    The patch: `RiskManagement._domain_client` (the risk client's own
    `risk_management.clients.domain_client.DomainClient`, shared by the equity tracking client
    and its tracker event listener manager) calls its `_update_host()` before every request;
    the SDK's version asks `https://mt-provisioning-api-v1.<domain>/users/current/regions` and
    `.../servers/mt-client-api` (cached 10 minutes) and builds
    `https://risk-management-api-v1.<region>.<domain>`. It has no host or port option, so this
    replaces `_update_host` on the instance with one that sets
    - `_url_cache['url']`, the prefix of every request path, to `base_url`;
    - `_region_cache` to one region and `_region_index` to 0: the SDK's failover on 409, 500,
      other statuses and connect timeouts moves to the next region and raises after the last,
      so one region means one attempt and a raise (an empty list would make it recurse);
    and `_update_regions` with one that raises, so nothing can fall back to the lookup. The
    rest of MetaApi uses another domain client class, untouched and unused here.
    """
    client = RiskManagement(token, dict(SDK_OPTIONS))
    domain_client = getattr(client, '_domain_client', None)
    if not isinstance(domain_client, DomainClient) or not all(
            hasattr(domain_client, name) for name in
            ('_update_host', '_update_regions', '_url_cache', '_region_cache', '_region_index')):
        raise RuntimeError('this SDK has no RiskManagement._domain_client._update_host to patch')

    async def update_host():
        domain_client._region_cache = ['riskdeck']
        domain_client._region_index = 0
        domain_client._url_cache = {'url': base_url, 'domain': 'riskdeck',
                                    'lastUpdated': datetime.now().timestamp()}

    async def update_regions():
        raise RuntimeError('the SDK tried to look its regions up: the host patch missed')

    domain_client._update_host = update_host
    domain_client._update_regions = update_regions
    api = client.risk_management_api
    listeners = getattr(api, '_tracker_event_listener_manager', None)
    if api._domain_client is not domain_client or listeners._domain_client is not domain_client:
        raise RuntimeError("the SDK's risk APIs do not share the patched domain client")
    return client


def close(client):
    """Stops the `MetaApi` the SDK made inside (RiskManagement itself has no close)."""
    manager = getattr(client.risk_management_api, '_equity_balance_stream_manager', None)
    meta_api = getattr(manager, '_metaapi', None)
    if meta_api is not None and hasattr(meta_api, 'close'):
        meta_api.close()


class HashFieldsStub:
    """The client API's lists of fields left out of the terminal state's hashes, which the SDK's
    terminal hash manager fetches on connecting (as in metaapi_sdk.py): none left out."""

    def get_hashing_ignored_field_lists(self, region):
        empty = {'specification': [], 'position': [], 'order': []}
        return {'g1': empty, 'g2': empty}

    async def refresh_ignored_field_lists(self, region):
        pass


def provisioned(account):
    """What MetaApi's provisioning API answers for a deployed, connected account in one region
    with no replicas (`GET /users/current/accounts/{id}`, which the demo broker does not serve)."""
    return {'_id': account, 'name': account, 'login': '0', 'server': 'RiskdeckDemo-Server',
            'type': 'cloud-g2', 'platform': 'mt5', 'version': 5, 'magic': 0, 'region': REGION,
            'state': 'DEPLOYED', 'connectionStatus': 'CONNECTED', 'reliability': 'regular',
            'accountReplicas': [], 'application': 'MetaApi'}


def stream_from(client, broker, token, accounts):
    """Points the `MetaApi` that `client` (a `risk_management`) made inside at a demo broker.

    `RiskManagement.__init__` makes one `MetaApi` with the risk API's token and domain and gives
    it to its three stream managers. Adding a statistics, equity chart or equity balance
    listener then calls `metatrader_account_api.get_account(id)` (the provisioning API),
    `account.wait_deployed()` (the same call again until the state is `DEPLOYED`),
    `account.get_streaming_connection()`, `connect()` and `wait_synchronized()`; connecting makes
    the terminal hash manager fetch its field lists from the client API. As metaapi_sdk.py
    points a websocket client at the demo broker, this
    - sets the websocket client's server URL (`set_url`: no region or domain lookup) and its
      token (the `auth-token` query parameter of the socket) to the demo broker's;
    - answers the account client's `get_account` here with `provisioned(id)` for `accounts` and
      NotFoundException for any other (the demo broker serves no provisioning API);
    - gives the terminal hash manager `HashFieldsStub` for its client API client;
    - makes MetaApi's own domain client raise when asked to look its domain up (at
      `mt-provisioning-api-v1.<domain>`, for the socket's and the client APIs' hosts), so that
      nothing can fall back to it; MetaApi's other REST clients (provisioning, profiles) use
      `https://...<domain>` hosts, and the reserved domain in SDK_OPTIONS sends them nowhere.
    The risk API's domain client stays as `risk_management` patched it: the stream managers
    call Riskdeck through their `RiskManagement` client (`get_tracker`, real-time statistics,
    the real-time equity chart).
    """
    api = client.risk_management_api
    managers = [getattr(api, name, None) for name in (
        '_period_statistics_stream_manager', '_equity_chart_stream_manager',
        '_equity_balance_stream_manager')]
    meta_api = getattr(managers[0], '_metaapi', None)
    if meta_api is None or any(getattr(m, '_metaapi', None) is not meta_api for m in managers):
        raise RuntimeError("the SDK's stream managers do not share one MetaApi to patch")
    websocket = getattr(meta_api, '_metaapi_websocket_client', None)
    accounts_api = meta_api.metatrader_account_api
    account_client = getattr(accounts_api, '_metatrader_account_client', None)
    hashes = getattr(meta_api, '_terminal_hash_manager', None)
    domain_client = getattr(websocket, '_domain_client', None)
    if (not hasattr(websocket, 'set_url') or not hasattr(websocket, '_token')
            or not hasattr(account_client, 'get_account')
            or not hasattr(hashes, '_client_api_client')
            or not isinstance(domain_client, MetaApiDomainClient)):
        raise RuntimeError("this SDK's MetaApi has not the websocket client, account client, "
                           'hash manager and domain client to patch')
    websocket.set_url(broker)
    websocket._token = token

    async def get_account(account_id):
        if account_id not in accounts:
            raise NotFoundException(f'account {account_id} is not provisioned here')
        return provisioned(account_id)

    async def update_domain():
        raise RuntimeError("MetaApi looked its domain up: the demo broker patch missed")

    account_client.get_account = get_account
    hashes._client_api_client = HashFieldsStub()
    domain_client._update_domain = update_domain


class Requests:
    """Every request of the risk API that `client` (a `risk_management`) sends, with its answer
    or error: says which of Riskdeck's answers a streaming listener could not use."""

    def __init__(self, client):
        self.sent = []
        http = client._domain_client._http_client
        request = http.request

        async def recorded(options, *args, **kwargs):
            entry = {'method': options.get('method', 'GET'), 'url': options.get('url'),
                     'params': dict(options.get('params') or {})}
            self.sent.append(entry)
            try:
                entry['answer'] = await request(options, *args, **kwargs)
            except Exception as error:
                entry['error'] = error
                raise
            return entry['answer']

        http.request = recorded

    def since(self, start, suffix):
        """The requests since the `start`-th whose path ends with `suffix`."""
        return [r for r in self.sent[start:] if r['url'].split('?')[0].endswith(suffix)]


def shown(request):
    """A request as one line: method, path and query (a bool as httpx sends it)."""
    path = request['url'].split('//', 1)[-1].split('/', 1)[-1]
    query = '&'.join(f'{k}={str(v).lower() if isinstance(v, bool) else v}'
                     for k, v in request['params'].items())
    return f'{request["method"]} /{path}' + (f'?{query}' if query else '')


def unusable(requests, reader, fields):
    """What is wrong with Riskdeck's answers to `requests` for the SDK's `reader`, or nothing:
    with `fields` None it keeps one object; else a list of objects, reading `fields` of an item
    by subscript (`number`: used in arithmetic; `text`: compared with broker times; `flag`: a
    bool)."""
    for request in requests:
        if 'error' in request:
            error = request['error']
            return (f'{shown(request)} failed with {type(error).__name__}: {error}; {reader} '
                    'needs its answer')
        answer = request.get('answer')
        if fields is None:
            if not isinstance(answer, dict):
                return f'{shown(request)} answered {answer!r}; {reader} expects an object'
            continue
        if not isinstance(answer, list) or not all(isinstance(i, dict) for i in answer):
            return f'{shown(request)} answered {answer!r}; {reader} expects a list of objects'
        for item in answer:
            wrong = []
            for field, kind in fields.items():
                value = item.get(field)
                if field not in item:
                    wrong.append(f'no {field}')
                elif kind == 'number' and not is_number(value):
                    wrong.append(f'{field} {value!r} is not a number')
                elif kind == 'text' and not isinstance(value, str):
                    wrong.append(f'{field} {value!r} is not broker-time text')
                elif kind == 'flag' and not isinstance(value, bool):
                    wrong.append(f'{field} {value!r} is not a bool')
            if wrong:
                return (f'{shown(request)} answered an item with {", ".join(wrong)}: {reader} '
                        f'reads {", ".join(fields)} by subscript ({item!r})')
    return None


# What the SDK's stream managers read of Riskdeck's answers by subscript (29.1.1): the newest
# statistics record (period_statistics_stream_manager.py, fetch_initial_data and the drawdown
# and profit recomputation on each price) and the last equity chart item
# (equity_chart_stream_manager.py, add_equity_chart_listener and on_symbol_price_updated).
STATISTICS_READ = {'startBrokerTime': 'text', 'period': 'text', 'initialBalance': 'number',
                   'thresholdExceeded': 'flag', 'maxAbsoluteDrawdown': 'number',
                   'maxAbsoluteProfit': 'number'}
CHART_READ = {'startBrokerTime': 'text', 'endBrokerTime': 'text', 'brokerTime': 'text',
              'duration': 'number', 'equitySum': 'number', 'balanceSum': 'number',
              'averageEquity': 'number', 'minEquity': 'number', 'maxEquity': 'number',
              'averageBalance': 'number', 'minBalance': 'number', 'maxBalance': 'number'}


class Stream:
    """What one of the SDK's streaming listeners hands over, by callback, in order."""

    def __init__(self):
        self.received = []  # (callback name, argument or None)
        self.errors = []
        self.arrived = asyncio.Event()

    def got(self, callback, argument=None):
        self.received.append((callback, argument))
        self.arrived.set()

    def error(self, error):
        self.errors.append(f'{type(error).__name__}: {error}')

    async def first(self, callback, accept, deadline):
        """The first argument of `callback` that `accept` takes, waiting until `deadline`
        (monotonic); None when none came. `accept` returns what is wrong, or nothing."""
        while True:
            self.arrived.clear()  # before looking, so no arrival is missed
            for name, argument in self.received:
                if name == callback and not accept(argument):
                    return argument
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                await asyncio.wait_for(self.arrived.wait(), left)
            except asyncio.TimeoutError:
                pass

    def summary(self):
        names = [name for name, _ in self.received]
        counted = ', '.join(f'{n} x{names.count(n)}' for n in dict.fromkeys(names)) or 'nothing'
        errors = '; '.join(dict.fromkeys(self.errors)) or 'none'
        return f'received {counted}; listener errors: {errors}'


class Statistics(PeriodStatisticsListener):
    def __init__(self, account, tracker):
        super().__init__(account, tracker)
        self.stream = Stream()

    async def on_period_statistics_updated(self, period_statistics_event):
        self.stream.got('on_period_statistics_updated', period_statistics_event)

    async def on_period_statistics_completed(self):
        self.stream.got('on_period_statistics_completed')

    async def on_tracker_completed(self):
        self.stream.got('on_tracker_completed')

    async def on_connected(self):
        self.stream.got('on_connected')

    async def on_disconnected(self):
        self.stream.got('on_disconnected')

    async def on_error(self, error):
        self.stream.error(error)


class Chart(EquityChartListener):
    def __init__(self, account):
        super().__init__(account)
        self.stream = Stream()

    async def on_equity_record_updated(self, equity_chart_event):
        self.stream.got('on_equity_record_updated', equity_chart_event)

    async def on_equity_record_completed(self):
        self.stream.got('on_equity_record_completed')

    async def on_connected(self):
        self.stream.got('on_connected')

    async def on_disconnected(self):
        self.stream.got('on_disconnected')

    async def on_error(self, error):
        self.stream.error(error)


class EquityBalance(EquityBalanceListener):
    def __init__(self, account):
        super().__init__(account)
        self.stream = Stream()

    async def on_equity_or_balance_updated(self, equity_balance_data):
        self.stream.got('on_equity_or_balance_updated', equity_balance_data)

    async def on_connected(self):
        self.stream.got('on_connected')

    async def on_disconnected(self):
        self.stream.got('on_disconnected')

    async def on_error(self, error):
        self.stream.error(error)


def broker_refusal(broker, token, account):
    """Why the demo broker would not serve `account` to `token`, or nothing (one REST call with
    the same token as the SDK's socket: a refused token otherwise only shows as no sync)."""
    path = f'/users/current/accounts/{account}/account-information'
    request = urllib.request.Request(broker + path, headers={'auth-token': token})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            answer.read()
            return None
    except urllib.error.HTTPError as error:
        body = error.read().decode(errors='replace')[:200]
        return (f'the demo broker {broker} answers GET {path} with auth-token {token!r} '
                f'{error.code} {body}: the SDK\'s socket sends the same token, so it could not '
                'stream the account')
    except OSError as error:
        return f'cannot reach the demo broker {broker}: {error}'


class Events(TrackerEventListener):
    """Keeps what the SDK's tracker event listener hands over, with when it came."""

    def __init__(self, account):
        # The SDK's base class refuses an empty tracker id, though the listener is registered
        # for the whole account (before the tracker exists): the id here is never used.
        super().__init__(account, 'any-tracker')
        self.received = []
        self.errors = []
        self.arrived = asyncio.Event()

    async def on_tracker_event(self, tracker_event):
        self.received.append((time.monotonic(), tracker_event))
        self.arrived.set()

    async def on_error(self, error):
        self.errors.append(f'{type(error).__name__}: {error}')


async def raises(call, *kinds):
    """The exception of one of `kinds` that awaiting `call` raises; any other outcome fails."""
    try:
        answer = await call
    except kinds as error:
        return error
    names = ' or '.join(kind.__name__ for kind in kinds)
    raise Failed(f'answered {answer!r} where {names} was expected')


def names_parameter(error, parameter):
    """Fails unless a ValidationException's details name `parameter`."""
    details = error.details or []
    named = [d.get('parameter') for d in details if isinstance(d, dict)]
    require(parameter in named, f'details name {named}, not {parameter!r}: {details!r}')


def registered(listeners, listener):
    """The id a stream manager's `listeners` (id to listener) hold `listener` under, or None."""
    return next((i for i, other in dict(listeners).items() if other is listener), None)


def find(trackers, tracker_id):
    require(isinstance(trackers, list), f'not a list: {trackers!r}')
    return next((t for t in trackers if isinstance(t, dict) and t.get('_id') == tracker_id), None)


class Run:
    def __init__(self, args, report):
        self.args = args
        self.report = report
        self.account = args.account
        self.base = args.url.rstrip('/')
        tag = uuid.uuid4().hex[:8]
        # A space and a slash: the SDK quotes the name into the path keeping the slash.
        self.name = f'conformance tracker/{tag}'
        self.renamed = f'conformance tracker/{tag} renamed'
        self.event_name = f'conformance events/{tag}'
        self.tag = tag
        self.day = None  # the `day` tracker's id
        self.lifetime = None  # the event tracker's id
        self.created = []  # every tracker id made, for the clean-up
        self.deleted = set()
        self.event = None  # (latency in s, the event) seen by the listener
        self.clients = []
        self.streamer = None  # the client whose MetaApi streams from the demo broker
        self.requests = None  # its risk API requests

    async def check(self, name, body, timeout=CALL_TIMEOUT):
        """Runs one check: `body()` returns a detail for the PASS line (or nothing), raises to
        fail; the failure's text goes on the FAIL line and the run goes on."""
        try:
            detail = await asyncio.wait_for(body(), timeout)
        except asyncio.TimeoutError:
            self.report.check(name, f'no answer within {timeout} s')
        except Failed as error:
            self.report.check(name, str(error))
        except Exception as error:  # noqa: BLE001 - any error fails this check only
            self.report.check(name, f'{type(error).__name__}: {error}')
        else:
            self.report.check(f'{name} ({detail})' if detail else name)

    async def main(self):
        self.client = risk_management(self.args.token, self.base)
        self.clients.append(self.client)
        self.api = self.client.risk_management_api
        try:
            await self.trackers()
            await self.check('period statistics', self.statistics, STATISTICS_WAIT + CALL_TIMEOUT)
            await self.check('equity chart', self.chart, CHART_WAIT + CALL_TIMEOUT)
            await self.check('threshold event through the listener', self.listener,
                             EVENT_WAIT + CALL_TIMEOUT)
            await self.check('tracker events by broker time', self.events_by_time)
            await self.streaming()
            await self.check('delete trackers', self.delete)
            await self.check('deleted tracker is not found', self.deleted_not_found)
            await self.check('wrong token is unauthorized', self.wrong_token)
        finally:
            for tracker in self.created:
                if tracker not in self.deleted:
                    try:
                        await asyncio.wait_for(self.api.delete_tracker(self.account, tracker), 10)
                    except Exception:  # noqa: BLE001 - best effort; the checks said what failed
                        pass
            for client in self.clients:
                try:
                    close(client)
                except Exception:  # noqa: BLE001 - the process exits right after anyway
                    pass

    async def trackers(self):
        await self.check('create tracker', self.create)
        await self.check('list trackers', self.listed)
        await self.check('get tracker by id', self.get_by_id)
        await self.check('get tracker by name', self.get_by_name)
        await self.check('duplicate name is a validation error', self.duplicate)
        await self.check('invalid period is a validation error', self.bad_period)
        await self.check('unknown tracker is not found', self.unknown)
        await self.check('foreign account is hidden', self.foreign)
        await self.check('rename tracker', self.rename)

    def need_day(self):
        require(self.day, 'no tracker: creating it failed')
        return self.day

    async def create(self):
        answer = await self.api.create_tracker(self.account, {
            'name': self.name, 'period': 'day', 'relativeDrawdownThreshold': 0.5})
        require(isinstance(answer, dict) and isinstance(answer.get('id'), str) and answer['id'],
                f'answered {answer!r}, not {{"id": ...}}')
        self.day = answer['id']
        self.created.append(self.day)
        return f'id {self.day}'

    async def listed(self):
        tracker = find(await self.api.get_trackers(self.account), self.need_day())
        require(tracker, f'{self.day} is not in the list')
        sent = {'name': self.name, 'period': 'day', 'relativeDrawdownThreshold': 0.5}
        wrong = {k: tracker.get(k) for k, v in sent.items() if tracker.get(k) != v}
        require(not wrong, f'listed with {wrong}, sent {sent}')

    async def get_by_id(self):
        tracker = await self.api.get_tracker(self.account, self.need_day())
        require(isinstance(tracker, dict) and tracker.get('_id') == self.day
                and tracker.get('name') == self.name and tracker.get('period') == 'day',
                f'answered {tracker!r}')

    async def get_by_name(self):
        self.need_day()
        tracker = await self.api.get_tracker_by_name(self.account, self.name)
        require(isinstance(tracker, dict) and tracker.get('_id') == self.day
                and tracker.get('name') == self.name, f'answered {tracker!r}')

    async def duplicate(self):
        self.need_day()
        error = await raises(self.api.create_tracker(self.account, {
            'name': self.name, 'period': 'day', 'relativeDrawdownThreshold': 0.5}),
            ValidationException)
        names_parameter(error, 'name')

    async def bad_period(self):
        call = self.api.create_tracker(self.account, {
            'name': f'conformance bad period/{self.tag}', 'period': 'fortnight'})
        try:
            error = await raises(call, ValidationException)
        except Failed:
            # Made after all: keep its id for the clean-up before failing.
            answer = await self.api.get_trackers(self.account)
            for tracker in answer if isinstance(answer, list) else []:
                if tracker.get('name') == f'conformance bad period/{self.tag}':
                    self.created.append(tracker['id'])
            raise
        names_parameter(error, 'period')

    async def unknown(self):
        await raises(self.api.get_tracker(self.account, uuid.uuid4().hex), NotFoundException)

    async def foreign(self):
        error = await raises(self.api.get_trackers(self.args.foreign_account),
                             NotFoundException, ForbiddenException)
        return f'{type(error).__name__} {error.status_code}'

    async def rename(self):
        await self.api.update_tracker(self.account, self.need_day(), {'name': self.renamed})
        tracker = await self.api.get_tracker(self.account, self.day)
        require(isinstance(tracker, dict) and tracker.get('name') == self.renamed,
                f'after renaming to {self.renamed!r} get answers {tracker!r}')
        self.name = self.renamed

    async def statistics(self):
        tracker = self.need_day()
        deadline = time.monotonic() + STATISTICS_WAIT
        while True:
            stats = await self.api.get_tracking_statistics(self.account, tracker, real_time=True)
            require(isinstance(stats, list), f'not a list: {stats!r}')
            if stats or time.monotonic() > deadline:
                break
            await asyncio.sleep(1)
        require(stats, f'still no period after {STATISTICS_WAIT} s')
        first = stats[0]
        problems = []
        if first.get('period') != 'day':
            problems.append(f'period {first.get("period")!r}')
        for field in ('initialBalance', 'maxAbsoluteDrawdown', 'maxAbsoluteProfit'):
            if not is_number(first.get(field)):
                problems.append(f'{field} {first.get(field)!r} is not a number')
        if not isinstance(first.get('startBrokerTime'), str):
            problems.append(f'startBrokerTime {first.get("startBrokerTime")!r}')
        require(not problems, f'{"; ".join(problems)} in {first!r}')
        return f'{len(stats)} period(s), from {first["startBrokerTime"]}'

    async def chart(self):
        deadline = time.monotonic() + CHART_WAIT
        while True:
            records = await self.api.get_equity_chart(self.account, real_time=True)
            require(isinstance(records, list), f'not a list: {records!r}')
            if records or time.monotonic() > deadline:
                break
            await asyncio.sleep(1)
        require(records, f'still empty after {CHART_WAIT} s')
        problems = []
        for record in records:
            if not isinstance(record.get('startBrokerTime'), str):
                problems.append(f'startBrokerTime {record.get("startBrokerTime")!r}')
            for field in ('averageEquity', 'minEquity', 'maxEquity', 'lastBalance'):
                if not is_number(record.get(field)):
                    problems.append(f'{field} {record.get(field)!r}')
            if problems:
                raise Failed(f'{"; ".join(problems)} in {record!r}')
        return f'{len(records)} hour(s)'

    async def listener(self):
        events = Events(self.account)
        # Registered first, for the whole account: the Python SDK's long poll carries no cursor,
        # so the server answers only events newer than the waiting request.
        listener_id = self.api.add_tracker_event_listener(events, self.account)
        try:
            await asyncio.sleep(0.5)  # let its first long poll reach the server
            answer = await self.api.create_tracker(self.account, {
                'name': self.event_name, 'period': 'lifetime',
                'absoluteDrawdownThreshold': 0.01, 'absoluteProfitThreshold': 0.01})
            require(isinstance(answer, dict) and answer.get('id'),
                    f'creating the event tracker answered {answer!r}')
            self.lifetime = answer['id']
            self.created.append(self.lifetime)
            created = time.monotonic()
            deadline = created + EVENT_WAIT
            while True:
                events.arrived.clear()  # before looking, so no arrival is missed
                mine = [(at, e) for at, e in events.received
                        if isinstance(e, dict) and e.get('trackerId') == self.lifetime]
                if mine:
                    break
                left = deadline - time.monotonic()
                require(left > 0, f'no event for {self.lifetime} within {EVENT_WAIT} s '
                        f'({len(events.received)} other event(s); listener errors: '
                        f'{events.errors[-3:] or "none"})')
                try:
                    await asyncio.wait_for(events.arrived.wait(), left)
                except asyncio.TimeoutError:
                    pass
            at, event = mine[0]
            require(event.get('exceededThresholdType') in ('drawdown', 'profit'),
                    f'exceededThresholdType {event.get("exceededThresholdType")!r} in {event!r}')
            require(len(mine) == 1, f'{len(mine)} events for one lifetime period: {mine!r}')
            self.event = event
            return (f'{event["exceededThresholdType"]}, {max(0.0, at - created):.1f} s after '
                    f'the tracker was made')
        finally:
            self.api.remove_tracker_event_listener(listener_id)

    async def events_by_time(self):
        require(self.lifetime, 'no event tracker: creating it failed')
        if self.event and isinstance(self.event.get('brokerTime'), str):
            # Both bounds inclusive: the event's own broker time finds it.
            start = end = self.event['brokerTime']
        else:
            start, end = EARLIEST, LATEST
        deadline = time.monotonic() + 10
        while True:
            found = await self.api.get_tracker_events(start, end, self.account, self.lifetime, 10)
            require(isinstance(found, list), f'not a list: {found!r}')
            if found or self.event or time.monotonic() > deadline:
                break
            await asyncio.sleep(1)
        require(len(found) == 1, f'{len(found)} events from {start} to {end}: {found!r}')
        event = found[0]
        require(event.get('trackerId') == self.lifetime and is_number(event.get('sequenceNumber')),
                f'answered {event!r}')
        if self.event:
            require(event.get('sequenceNumber') == self.event.get('sequenceNumber'),
                    f'sequenceNumber {event.get("sequenceNumber")} where the listener saw '
                    f'{self.event.get("sequenceNumber")}')
        return f'sequenceNumber {event["sequenceNumber"]}, {start} to {end}'

    async def streaming(self):
        """The SDK's streaming listeners, on a client of their own whose MetaApi streams from the
        demo broker (its risk API requests recorded)."""
        checks = [('period statistics listener', self.statistics_listener),
                  ('equity chart listener', self.chart_listener),
                  ('equity balance listener', self.balance_listener)]
        broker = (self.args.demo_broker or '').rstrip('/')
        if not broker:
            why = 'no --demo-broker given (the demo server printed no demo broker address)'
        else:
            why = await asyncio.to_thread(broker_refusal, broker, self.args.demo_token,
                                          self.account)
        if not why:
            try:
                self.streamer = risk_management(self.args.token, self.base)
                self.clients.append(self.streamer)
                stream_from(self.streamer, broker, self.args.demo_token, {self.account})
                self.requests = Requests(self.streamer)
            except Exception as error:  # noqa: BLE001 - fails the checks below, not the run
                why = f'{type(error).__name__}: {error}'
        for name, body in checks:
            if why:
                self.report.check(name, why)
            else:
                await self.check(name, body, STREAM_WAIT + CALL_TIMEOUT)

    async def listen(self, listener, add, remove, held, callback, accept):
        """Adds `listener` (`add()` resolves to its id), waits up to STREAM_WAIT for the first
        argument of its `callback` that `accept` takes (`accept` says what is wrong, or
        nothing), then removes it (`remove(id)`; `held()` is the id the SDK's manager still
        holds it under, or None). Returns that argument (None when none came), the seconds it
        took and whether adding returned."""
        started = time.monotonic()
        adding = asyncio.create_task(add())
        waiting = asyncio.create_task(
            listener.stream.first(callback, accept, started + STREAM_WAIT))
        try:
            await asyncio.wait({adding, waiting}, return_when=asyncio.FIRST_COMPLETED)
            if adding.done() and adding.exception() is not None:
                error = adding.exception()
                raise Failed(f'adding the listener raised {type(error).__name__}: {error}')
            argument = await waiting
            took, added = time.monotonic() - started, adding.done()
        finally:
            waiting.cancel()
            if not adding.done():
                adding.cancel()
            listener_id = held()
            if listener_id:
                remove(listener_id)
        # Removing is synchronous in the SDK (the connection closes in a task of its own).
        require(not held(), 'the listener is still registered after removing it')
        return argument, took, added

    def listened(self, argument, took, added, listener, callback, start, paths):
        """Fails with why `callback` brought nothing: first a Riskdeck answer the SDK could not
        use (`paths`: (path suffix, reader, fields read)), then the state of the listener."""
        for suffix, reader, fields in paths:
            problem = unusable(self.requests.since(start, suffix), reader, fields)
            require(not problem, problem)
        if argument is None:
            sent = ', '.join(shown(r) + (f' -> {type(r["error"]).__name__}' if 'error' in r
                                         else '') for r in self.requests.sent[start:])
            raise Failed(f'no {callback} within {STREAM_WAIT} s ('
                         f'{"adding returned" if added else "adding had not returned"}; '
                         f'{listener.stream.summary()}; risk API requests: {sent or "none"})')

    def noted(self, detail, listener):
        """`detail`, with the errors the SDK reported to the listener meanwhile (if any)."""
        if listener.stream.errors:
            errors = '; '.join(dict.fromkeys(listener.stream.errors))
            return f'{detail}; the SDK also reported to on_error: {errors[:300]}'
        return detail

    async def statistics_listener(self):
        tracker = self.need_day()
        api = self.streamer.risk_management_api
        manager = api._period_statistics_stream_manager
        listener = Statistics(self.account, tracker)
        start = len(self.requests.sent)

        def accept(stats):
            if not isinstance(stats, list) or not stats or not isinstance(stats[0], dict):
                return f'not a non-empty list of records: {stats!r}'
            first = stats[0]
            if not first.get('period') or not is_number(first.get('initialBalance')):
                return f'no period or numeric initialBalance in {first!r}'
            return None

        stats, took, added = await self.listen(
            listener, lambda: api.add_period_statistics_listener(listener, self.account, tracker),
            api.remove_period_statistics_listener,
            lambda: registered(manager.get_tracker_listeners(self.account, tracker), listener),
            'on_period_statistics_updated', accept)
        self.listened(stats, took, added, listener, 'on_period_statistics_updated', start, [
            (f'/trackers/{tracker}', 'PeriodStatisticsStreamManager (caching the tracker)', None),
            ('/statistics', 'PeriodStatisticsStreamManager', STATISTICS_READ)])
        trackers = self.requests.since(start, f'/trackers/{tracker}')
        require(trackers and isinstance(trackers[0].get('answer'), dict)
                and trackers[0]['answer'].get('_id') == tracker,
                f'get_tracker: {[shown(r) for r in trackers]} answered '
                f'{[r.get("answer", r.get("error")) for r in trackers]!r}')
        first = stats[0]
        return self.noted(f'{len(stats)} period(s), {first["period"]} from '
                          f'{first.get("startBrokerTime")}, initialBalance '
                          f'{first["initialBalance"]}, after {took:.1f} s', listener)

    async def chart_listener(self):
        api = self.streamer.risk_management_api
        manager = api._equity_chart_stream_manager
        listener = Chart(self.account)
        start = len(self.requests.sent)
        # A datetime, as the SDK's signature has it (sent as its str(): see the docs).
        since = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=1)

        def accept(records):
            if not isinstance(records, list) or not records:
                return f'not a non-empty list: {records!r}'
            wrong = [r for r in records
                     if not isinstance(r, dict) or not is_number(r.get('averageEquity'))]
            return f'items without a numeric averageEquity: {wrong[:2]!r}' if wrong else None

        records, took, added = await self.listen(
            listener, lambda: api.add_equity_chart_listener(listener, self.account, since),
            api.remove_equity_chart_listener,
            lambda: registered(manager._equity_chart_listeners.get(self.account, {}), listener),
            'on_equity_record_updated', accept)
        self.listened(records, took, added, listener, 'on_equity_record_updated', start, [
            ('/equity-chart', 'EquityChartStreamManager', CHART_READ)])
        return self.noted(f'{len(records)} hour(s) from {records[0].get("startBrokerTime")}, '
                          f'averageEquity {records[-1]["averageEquity"]}, after {took:.1f} s',
                          listener)

    async def balance_listener(self):
        api = self.streamer.risk_management_api
        manager = api._equity_balance_stream_manager
        listener = EquityBalance(self.account)
        start = len(self.requests.sent)

        def accept(data):
            if not isinstance(data, dict) or not all(
                    is_number(data.get(k)) for k in ('equity', 'balance')):
                return f'no numeric equity and balance in {data!r}'
            return None

        data, took, added = await self.listen(
            listener, lambda: api.add_equity_balance_listener(listener, self.account),
            api.remove_equity_balance_listener,
            lambda: registered(manager._equity_balance_listeners.get(self.account, {}), listener),
            'on_equity_or_balance_updated', accept)
        self.listened(data, took, added, listener, 'on_equity_or_balance_updated', start, [])
        return self.noted(f'equity {data["equity"]}, balance {data["balance"]}, after '
                          f'{took:.1f} s', listener)

    async def delete(self):
        ids = [t for t in (self.day, self.lifetime) if t]
        require(ids, 'no tracker to delete')
        for tracker in ids:
            await self.api.delete_tracker(self.account, tracker)
            self.deleted.add(tracker)
        left = [t for t in await self.api.get_trackers(self.account) if t.get('_id') in ids]
        require(not left, f'still listed: {left!r}')
        require(len(ids) == 2, 'only one tracker was made')

    async def deleted_not_found(self):
        require(self.day in self.deleted, 'the tracker was not deleted')
        await raises(self.api.get_tracker(self.account, self.day), NotFoundException)

    async def wrong_token(self):
        wrong = risk_management(f'not-a-riskdeck-token-{self.tag}', self.base)
        self.clients.append(wrong)
        await raises(wrong.risk_management_api.get_trackers(self.account), UnauthorizedException)


async def run(args, report):
    try:
        await asyncio.wait_for(Run(args, report).main(), RUN_TIMEOUT)
    except Exception as error:  # the run itself failed: that is a failed check too
        report.check('run', f'{type(error).__name__}: {error}')


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--url', required=True, help='Riskdeck, http://127.0.0.1:PORT')
    parser.add_argument('--token', required=True, help='a Riskdeck API token')
    parser.add_argument('--account', required=True, help='an account the token may see')
    parser.add_argument('--foreign-account', required=True,
                        help='an account the token may not see')
    parser.add_argument('--demo-broker',
                        help="the demo broker's MetaApi REST and streaming API, "
                             'http://127.0.0.1:PORT (the streaming listener checks fail without)')
    parser.add_argument('--demo-token', default='demo-token', help="the demo broker's token")
    args = parser.parse_args()
    # httpx (the SDK's HTTP client) honours *_PROXY variables: never send local calls through
    # a proxy.
    for variable in ('NO_PROXY', 'no_proxy'):
        os.environ[variable] = ','.join(filter(None, ['127.0.0.1,localhost',
                                                      os.environ.get(variable)]))
    report = Report()
    # MetaApi's SDK keeps its history under ./.metaapi/: a directory of our own for it.
    scratch = tempfile.mkdtemp(prefix='metaapi-risk-')
    os.chdir(scratch)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    loop.run_until_complete(run(args, report))
    print(f'{report.passed} passed, {report.failed} failed', flush=True)
    sys.stdout.flush()
    sys.stderr.flush()
    shutil.rmtree(scratch, ignore_errors=True)
    # The SDK leaves interval jobs (MetaApi's) and possibly a long poll running: exit without
    # waiting for them.
    os._exit(1 if report.failed or not report.passed else 0)


if __name__ == '__main__':
    main()
