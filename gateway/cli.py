"""The `dialgate` command: serve, demo, migrate, create-user, webhooks replay, leads import,
applier."""

import argparse
import asyncio
import getpass
import json
import logging
import os
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import ValidationError
from sqlmodel import col, select

from crm.importer.cli import import_file
from gateway import eventloop, logsetup, workers
from gateway.app import create_app
from gateway.carriers.registry import CarrierRegistry
from gateway.db import make_engine, make_sessionmaker
from gateway.demo import DEMO_PASSWORD, DEMO_USERS, seed_demo
from gateway.errors import DomainError
from gateway.migrate import upgrade
from gateway.models import Organization, Role, Team
from gateway.settings import InsecureSettingsError, Settings
from gateway.users import create_user
from webhooks.replay import ReplayReport, replay

log = logging.getLogger(__name__)
DEMO_DATABASE_URL = "sqlite+aiosqlite:///./dialgate-demo.db"


def _settings(**overrides: object) -> Settings:
    try:
        settings = Settings()
    except (ValidationError, InsecureSettingsError) as exc:
        sys.exit(f"dialgate: invalid settings: {exc}")
    return settings.model_copy(update=overrides) if overrides else settings


def _public_url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104
    return f"http://{shown}:{port}"


def cmd_serve(args: argparse.Namespace) -> None:
    settings = _settings()
    logsetup.configure(settings.log_level)
    processes = settings.web_processes if args.processes is None else args.processes
    if processes < 1:
        sys.exit("dialgate: --processes must be 1 or more")
    reason = workers.unsafe_reason(settings, processes)
    if reason:
        sys.exit(f"dialgate: {reason}")
    if processes == 1:
        eventloop.run_app(create_app(settings), settings.event_loop, host=args.host, port=args.port)
        return
    # Like one process, serve does not migrate: `dialgate migrate` runs once, before.
    sys.exit(workers.serve(args.host, args.port, processes))


async def _seed(settings: Settings) -> bool:
    engine = make_engine(settings.database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            created = await seed_demo(session, settings, CarrierRegistry())
            await session.commit()
    finally:
        await engine.dispose()
    return created


def cmd_demo(args: argparse.Namespace) -> None:
    configured = _settings()
    overrides: dict[str, object] = {}
    # Values set in the environment or .env win; the rest follow the demo's host and port.
    if "database_url" not in configured.model_fields_set:
        overrides["database_url"] = DEMO_DATABASE_URL
    if "public_base_url" not in configured.model_fields_set:
        overrides["public_base_url"] = _public_url(args.host, args.port)
    settings = configured.model_copy(update=overrides)
    if settings.env != "dev":
        sys.exit("dialgate: the demo runs only with DIALGATE_ENV=dev (it has fixed passwords)")
    logsetup.configure(settings.log_level)
    upgrade(settings.database_url)
    created = asyncio.run(_seed(settings))
    url = _public_url(args.host, args.port)
    logins = "\n".join(
        f"    {u.email:<20} {u.role:<8} password: {DEMO_PASSWORD}" for u in DEMO_USERS
    )
    print(
        f"\nDialgate demo {'seeded and ' if created else ''}running at {url}\n"
        f"  database: {settings.database_url}\n  carrier:  built-in sandbox\n  logins:\n{logins}\n"
        f"  API: {url}/api/openapi.json   Socket.IO namespace: /dialer\n",
        flush=True,
    )
    eventloop.run_app(create_app(settings), settings.event_loop, host=args.host, port=args.port)


def cmd_migrate(args: argparse.Namespace) -> None:
    settings = _settings()
    logsetup.configure(settings.log_level)
    upgrade(settings.database_url, args.revision)
    print(f"database at revision {args.revision}")


async def _create_user(settings: Settings, args: argparse.Namespace, password: str) -> int:
    engine = make_engine(settings.database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            org = (
                await session.exec(select(Organization).where(col(Organization.name) == args.org))
            ).first()
            if org is None:
                region = (args.region or settings.default_region).upper()
                org = Organization(name=args.org, default_region=region)
                session.add(org)
                await session.flush()
            team = None
            if args.team:
                team = (
                    await session.exec(
                        select(Team).where(col(Team.org_id) == org.id, col(Team.name) == args.team)
                    )
                ).first()
                if team is None:
                    assert org.id is not None
                    team = Team(org_id=org.id, name=args.team)
                    session.add(team)
                    await session.flush()
            user = await create_user(
                session,
                settings,
                org=org,
                email=args.email,
                password=password,
                name=args.name or args.email.split("@")[0],
                role=Role(args.role),
                team=team,
                phone=args.phone,
            )
            await session.commit()
            assert user.id is not None
            return user.id
    finally:
        await engine.dispose()


def cmd_create_user(args: argparse.Namespace) -> None:
    settings = _settings()
    password = args.password or os.environ.get("DIALGATE_PASSWORD") or getpass.getpass("Password: ")
    if len(password) < 8:
        sys.exit("dialgate: the password must have at least 8 characters")
    try:
        user_id = asyncio.run(_create_user(settings, args, password))
    except DomainError as exc:
        sys.exit(f"dialgate: {exc.field or 'error'}: {exc.message}")
    print(f"created user {user_id} ({args.email}, {args.role})")


async def _replay(settings: Settings, args: argparse.Namespace) -> ReplayReport:
    app = create_app(settings)
    runner = web.AppRunner(app)
    await runner.setup()  # the app's resources (database, applier), without serving
    try:
        statuses = {"failed", "applied"} if args.all else {"failed"}
        return await replay(
            app,
            statuses=statuses,
            since=datetime.fromisoformat(args.since) if args.since else None,
            account_id=args.account,
            ids=args.id,
        )
    finally:
        await runner.cleanup()


def cmd_webhooks_replay(args: argparse.Namespace) -> None:
    settings = _settings()
    logsetup.configure(settings.log_level)
    report = asyncio.run(_replay(settings, args))
    print(
        f"replayed {report.selected} stored webhooks: {report.changed_calls} call changes, "
        f"{report.failed} still failing"
    )
    if report.failed:
        sys.exit(1)


async def _import_leads(settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    return await import_file(
        settings,
        path=Path(args.file),
        org_id=args.org_id,
        options={
            "mapping": args.mapping,
            "default_region": args.region,
            "on_existing": args.on_existing,
            "source": args.source,
            "team_id": args.team_id,
            "owner_id": args.owner_id,
        },
    )


def cmd_leads_import(args: argparse.Namespace) -> None:
    settings = _settings()
    logsetup.configure(settings.log_level)
    try:
        report = asyncio.run(_import_leads(settings, args))
    except DomainError as exc:
        sys.exit(f"dialgate: {exc.field or 'error'}: {exc.message}")
    print(json.dumps(report, indent=2))
    if report["status"] != "completed":
        sys.exit(1)


def cmd_applier(args: argparse.Namespace) -> None:
    from webhooks.worker import run_applier  # only this command needs it

    settings = _settings()
    if not settings.redis_url:
        sys.exit(
            "dialgate: the applier runs apart from the gateway only with REDIS_URL set "
            "(without Redis each gateway applies its own webhooks)"
        )
    logsetup.configure(settings.log_level)
    eventloop.run(run_applier(settings), settings.event_loop)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dialgate", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, func, host, help_text in (
        ("serve", cmd_serve, "0.0.0.0", "run the gateway"),  # noqa: S104
        ("demo", cmd_demo, "127.0.0.1", "migrate, seed the demo organization and run"),
    ):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--host", default=host)
        p.add_argument("--port", type=int, default=8080)
        p.set_defaults(func=func)
        if name == "serve":
            p.add_argument(
                "--processes",
                type=int,
                help="worker processes sharing the port (default: WEB_PROCESSES, 1); "
                "above 1 needs REDIS_URL and PostgreSQL",
            )
    p = sub.add_parser("migrate", help="apply database migrations")
    p.add_argument("--revision", default="head")
    p.set_defaults(func=cmd_migrate)
    p = sub.add_parser("create-user", help="add a user (and its organization/team if new)")
    p.add_argument("--email", required=True)
    p.add_argument("--password", help="or DIALGATE_PASSWORD, or asked for")
    p.add_argument("--role", choices=[r.value for r in Role], default="agent")
    p.add_argument("--name")
    p.add_argument("--phone", help="the phone the dialer rings for this user")
    p.add_argument("--org", required=True, help="organization name (created if new)")
    p.add_argument(
        "--region", help="default phone region of a new organization (default: DEFAULT_REGION)"
    )
    p.add_argument("--team", help="team name (created if new)")
    p.set_defaults(func=cmd_create_user)
    p = sub.add_parser("webhooks", help="stored carrier webhooks")
    webhooks = p.add_subparsers(dest="webhooks_command", required=True)
    p = webhooks.add_parser(
        "replay", help="apply stored webhooks again (failed ones; --all: applied ones too)"
    )
    p.add_argument("--all", action="store_true", help="also rows already applied")
    p.add_argument("--since", help="received at or after (ISO 8601 with offset)")
    p.add_argument("--account", type=int, help="one carrier account id")
    p.add_argument("--id", type=int, action="append", help="one inbox row (repeatable)")
    p.set_defaults(func=cmd_webhooks_replay)
    p = sub.add_parser("leads", help="leads")
    leads = p.add_subparsers(dest="leads_command", required=True)
    p = leads.add_parser("import", help="import leads from a CSV file and print the report")
    p.add_argument("file", help="the CSV file (left in place; a copy is imported)")
    p.add_argument("--org-id", type=int, required=True)
    p.add_argument("--mapping", help='JSON object of column to field, e.g. {"Mobile": "phone"}')
    p.add_argument("--region", help="region of numbers without a country code")
    p.add_argument("--on-existing", choices=["skip", "update", "merge"], default="skip")
    p.add_argument("--source", help="source label of the new leads")
    p.add_argument("--team-id", type=int)
    p.add_argument("--owner-id", type=int, help="owner of all the new leads")
    p.set_defaults(func=cmd_leads_import)
    p = sub.add_parser(
        "applier", help="apply stored webhooks only, apart from the web gateway (needs REDIS_URL)"
    )
    p.set_defaults(func=cmd_applier)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
