from dosewise_trainer.worker import main

main()
