from dosewise_api.app import main

main()
