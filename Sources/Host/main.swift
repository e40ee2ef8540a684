// hydra: the NRI plugin that attaches extra network interfaces to pods.
import Foundation

let usage = """
usage: hydra COMMAND [options]

commands:
  run              serve the runtime's NRI socket (the daemon)
  explain          show which networks a pod would get
  status           show the running daemon's connection, backends and attachments
  backend check    run the conformance checks on a backend library
  version          print the version

Run `hydra COMMAND --help` for the options of a command.
"""

/// The version printed by `hydra version`.
let hydraVersion = "0.1.0"

var arguments = Array(CommandLine.arguments.dropFirst())
guard let command = arguments.first else {
    printError(usage)
    exit(2)
}
arguments.removeFirst()

let status: Int32
switch command {
case "run":
    status = await RunCommand.run(arguments: arguments)
case "explain":
    status = await ExplainCommand.run(arguments: arguments)
case "status":
    status = StatusCommand.run(arguments: arguments)
case "backend":
    if arguments.first == "check" {
        status = BackendCheckCommand.run(arguments: Array(arguments.dropFirst()))
    } else {
        let message = "usage: hydra backend check PATH.so [options]\n\nRun `hydra backend check --help` for the options."
        if arguments.first == "--help" || arguments.first == "-h" {
            print(message)
            status = 0
        } else {
            printError(arguments.isEmpty ? message : "unknown backend command \"\(arguments[0])\"\n\(message)")
            status = 2
        }
    }
case "version", "--version":
    print("hydra \(hydraVersion)")
    status = 0
case "-h", "--help", "help":
    print(usage)
    status = 0
default:
    printError("unknown command \"\(command)\"\n\(usage)")
    status = 2
}
exit(status)
