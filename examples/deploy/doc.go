// Package deploy checks the reference deployment: the sawmill image
// (server/Dockerfile), the compose stack (docker-compose.yml with
// .env.example) and the example services' images, without a Docker engine.
//
// The static checks (deploy_test.go) read those files and hold them to the
// running server: every SAWMILL_* variable exists (as `sawmill --help`
// lists them), ports are the server's defaults, images are pinned, runtime
// users are not root, health checks hit endpoints the real binary answers,
// and version and commit reach `sawmill --version` and /metrics through
// the Dockerfile's own -ldflags. The stack check (stack_test.go) runs
// scripts/stack-local.sh: the same stack as plain processes on loopback.
//
// httpprobe/ is the health-check command of the images, and stackcheck/
// the driver that sends requests through the example services and checks
// their logs in Sawmill.
package deploy
