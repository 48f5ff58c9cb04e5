from dosewise_inference.app import main

main()
