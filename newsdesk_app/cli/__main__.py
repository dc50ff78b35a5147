from newsdesk_app.cli.main import main

main()
