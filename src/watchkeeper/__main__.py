from watchkeeper.launch import main

main()
