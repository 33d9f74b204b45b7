from credshare.cli import main

main()
