from dashcore_cli.main import cli

cli()
