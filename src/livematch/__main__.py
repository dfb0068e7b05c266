from livematch.cli import main

main()
