# Sourced by the firmware scripts: installs a missing tool from the OS
# packages (as root, or with sudo), loudly; `die` must be defined.

# ensure_command COMMAND PACKAGE: installs PACKAGE if COMMAND is missing.
ensure_command() {
    local command="$1" package="$2"
    command -v "$command" >/dev/null 2>&1 && return
    echo "$command not found: installing $package"
    if [ "$(id -u)" -eq 0 ]; then
        apt-get update && apt-get install -y "$package"
    elif command -v sudo >/dev/null 2>&1; then
        sudo apt-get update && sudo apt-get install -y "$package"
    else
        die "$command is missing and $package cannot be installed (not root, no sudo)"
    fi
    command -v "$command" >/dev/null 2>&1 || die "$command still missing after apt-get install $package"
}
