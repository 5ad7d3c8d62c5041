"""One module per `grader` subcommand: each has add_parser(subparsers) and sets args.run."""
