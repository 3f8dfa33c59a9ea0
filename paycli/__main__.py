from paycli.cli import main

main()
