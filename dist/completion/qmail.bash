# SPDX-License-Identifier: MIT
# bash completion for qmail: commands, subcommands, the options each command
# lists in `qmail CMD --help` (read from the program, so they never go out
# of date), and the addresses of your accounts after --account, --from and
# `qmail account SUB`. Addresses come from `qmail account list`, which needs
# no passphrase: completion never asks for one and never unlocks the vault.
# Installed as share/bash-completion/completions/qmail.

_qmail_commands="init account contact contacts identity send reply forward
sync list folders folder flag move copy archive junk unjunk delete search
export import read retry outbox keys kme passwd unlock lock config web help"

# The subcommands of a command ("" when it has none).
_qmail_subcommands()
{
    case $1 in
    account) echo "add list remove test get set discover signin secret" ;;
    contact | contacts) echo "add list confirm import export suggest" ;;
    identity) echo "add list remove default" ;;
    outbox) echo "list retry cancel run" ;;
    keys) echo "fingerprint export import verify list safety backup restore" ;;
    kme) echo "status route network" ;;
    config) echo "list get set" ;;
    folder) echo "create rename delete" ;;
    esac
}

# The QMail home the command line names (--home), else the default one.
_qmail_home()
{
    local i
    for ((i = 1; i < ${#COMP_WORDS[@]} - 1; i++)); do
        case ${COMP_WORDS[i]} in
        --home) echo "${COMP_WORDS[i + 1]}"; return ;;
        --home=*) echo "${COMP_WORDS[i]#--home=}"; return ;;
        esac
    done
    if [[ -n $QMAIL_HOME ]]; then
        echo "$QMAIL_HOME"
    else
        echo "${XDG_DATA_HOME:-$HOME/.local/share}/qmail"
    fi
}

# The addresses of the home's accounts. Only a home that exists is asked
# (so completing never creates one); stdin is closed and the passphrase
# variables are unset, so nothing can wait for input.
_qmail_addresses()
{
    local home
    home=$(_qmail_home)
    [[ -d $home ]] || return
    QMAIL_PASSPHRASE= QMAIL_PASSPHRASE_FILE= \
        "${COMP_WORDS[0]}" --home "$home" -q account list </dev/null 2>/dev/null |
        while IFS=$'\t' read -r id addr _; do
            [[ $id =~ ^[0-9]+$ ]] && echo "$addr"
        done
}

# The --options of `qmail CMD --help` (`qmail account discover|signin
# --help` have their own; reply and forward take send's too). Only those
# are run: `--help` after another subcommand is not promised to stop
# before the command asks for the passphrase.
_qmail_options()
{
    local cmd=$1 sub=$2
    {
        case "$cmd $sub" in
        "account discover" | "account signin")
            "${COMP_WORDS[0]}" account "$sub" --help ;;
        *) "${COMP_WORDS[0]}" "$cmd" --help ;;
        esac
        case $cmd in
        reply | forward) "${COMP_WORDS[0]}" send --help ;;
        esac
    } </dev/null 2>/dev/null | grep -oE -- '--[a-z0-9][a-z0-9-]*' | sort -u
}

_qmail()
{
    local cur prev cmd="" sub="" i w subs
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD - 1]}
    COMPREPLY=()

    # find the command and its subcommand, skipping the global options
    for ((i = 1; i < COMP_CWORD; i++)); do
        w=${COMP_WORDS[i]}
        if [[ -z $cmd ]]; then
            case $w in
            --home) ((i++)) ;;
            -*) ;;
            *) cmd=$w ;;
            esac
        elif [[ -z $sub && $w != -* ]]; then
            sub=$w
            break
        fi
    done

    case $prev in
    --home | --maildir | --save-attachments)
        compopt -o dirnames 2>/dev/null
        COMPREPLY=($(compgen -d -- "$cur"))
        return ;;
    --account | --from)
        COMPREPLY=($(compgen -W "$(_qmail_addresses)" -- "$cur"))
        return ;;
    --password-file | --body-file | --attach | --html | --mbox | --oauth2-token-file | \
        --client-secret-file | --kme-ca | --kme-cert | --kme-key | --mail-ca | \
        --tls-cert | --tls-key | -o)
        compopt -o filenames 2>/dev/null
        COMPREPLY=($(compgen -f -- "$cur"))
        return ;;
    esac

    if [[ -z $cmd ]]; then
        if [[ $cur == -* ]]; then
            COMPREPLY=($(compgen -W "--home -q --version --help" -- "$cur"))
        else
            COMPREPLY=($(compgen -W "$_qmail_commands" -- "$cur"))
        fi
        return
    fi
    if [[ $cmd == help ]]; then
        COMPREPLY=($(compgen -W "$_qmail_commands" -- "$cur"))
        return
    fi
    subs=$(_qmail_subcommands "$cmd")
    if [[ -n $subs && -z $sub && $cur != -* ]]; then
        COMPREPLY=($(compgen -W "$subs" -- "$cur"))
        return
    fi
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$(_qmail_options "$cmd" "$sub")" -- "$cur"))
        return
    fi
    # the account address of `qmail account remove|test|get|set|signin|secret ADDR`
    if [[ $cmd == account && $prev == "$sub" ]]; then
        case $sub in
        remove | test | get | set | signin | secret)
            COMPREPLY=($(compgen -W "$(_qmail_addresses)" -- "$cur"))
            return ;;
        esac
    fi
    compopt -o default 2>/dev/null
}
complete -F _qmail qmail
