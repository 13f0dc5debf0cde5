from tsrnn.cli import main

main()
