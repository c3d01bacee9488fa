"""Command-line options of the simulator, shared by `genesys_simulator` and `serve`."""

from streams.simulator.server import SimulatorConfig


def add_simulator_arguments(parser, *, prefix: str = "", queues: int | None = None) -> None:
    defaults = SimulatorConfig()
    p = f"--{prefix}" if prefix else "--"
    parser.add_argument(
        f"{p}rate",
        type=float,
        default=defaults.rate,
        help="Insights per second (0: only on /_sim/emit); with --day-curve, at the peak.",
    )
    parser.add_argument(
        f"{p}day-curve",
        action="store_true",
        default=defaults.day_curve,
        help="The rate follows a contact centre's day in local time (a twentieth at night).",
    )
    parser.add_argument(
        f"{p}seed", type=int, default=defaults.seed, help="Seed of the event generator."
    )
    parser.add_argument(f"{p}client-id", default=defaults.client_id)
    parser.add_argument(f"{p}client-secret", default=defaults.client_secret)
    parser.add_argument(
        f"{p}token-ttl", type=float, default=defaults.token_ttl, help="Token lifetime in seconds."
    )
    parser.add_argument(
        f"{p}encoding",
        choices=["mixed", "text", "binary", "base64"],
        default=defaults.encoding,
        help="Frame encoding; mixed rotates through all three.",
    )
    parser.add_argument(
        f"{p}retention", type=int, default=defaults.retention, help="Events kept for resume."
    )
    parser.add_argument(
        f"{p}max-events", type=int, default=None, help="Stop generating after this many."
    )
    parser.add_argument(
        f"{p}hostile-ratio",
        type=float,
        default=defaults.hostile_ratio,
        help="Share of texts with HTML or formulas.",
    )
    parser.add_argument(
        f"{p}personal-ratio",
        type=float,
        default=defaults.personal_ratio,
        help="Share of texts with a customer's card number, e-mail, IBAN or phone number.",
    )
    parser.add_argument(
        f"{p}heartbeat-seconds",
        type=float,
        default=defaults.heartbeat_seconds,
        help="Notifications flavour: seconds between channel heartbeats.",
    )
    parser.add_argument(
        f"{p}channel-ttl",
        type=float,
        default=defaults.channel_ttl,
        help="Notifications flavour: seconds a channel lives unless resubscribed.",
    )
    parser.add_argument(
        f"{p}queues",
        type=int,
        default=defaults.queues if queues is None else queues,
        help="Queues whose conversations start and end (0: a fixed pool of conversations).",
    )
    parser.add_argument(
        f"{p}conversation-turnover",
        type=int,
        default=defaults.conversation_turnover,
        help="With queues: one conversation ends and another starts every this many insights.",
    )
    parser.add_argument(
        f"{p}run-id",
        default=None,
        help="Part of every event id (default: the start time); fixed, ids are predictable.",
    )


def config_from_options(options: dict, *, prefix: str = "") -> SimulatorConfig:
    key = prefix.replace("-", "_")
    return SimulatorConfig(
        rate=options[f"{key}rate"],
        day_curve=options[f"{key}day_curve"],
        seed=options[f"{key}seed"],
        client_id=options[f"{key}client_id"],
        client_secret=options[f"{key}client_secret"],
        token_ttl=options[f"{key}token_ttl"],
        encoding=options[f"{key}encoding"],
        retention=options[f"{key}retention"],
        max_events=options[f"{key}max_events"],
        hostile_ratio=options[f"{key}hostile_ratio"],
        personal_ratio=options[f"{key}personal_ratio"],
        heartbeat_seconds=options[f"{key}heartbeat_seconds"],
        channel_ttl=options[f"{key}channel_ttl"],
        queues=options[f"{key}queues"],
        conversation_turnover=options[f"{key}conversation_turnover"],
        **({"run_id": options[f"{key}run_id"]} if options.get(f"{key}run_id") else {}),
    )
