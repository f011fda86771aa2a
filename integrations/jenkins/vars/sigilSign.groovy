// sigilSign: sign files with Sigil from a Jenkins pipeline (docs/ci.md).
//
// The step wraps `sigil sign --json`; it never signs by itself. Secrets reach `sigil` only
// through the environment (withCredentials), and every caller-supplied value (policy, file
// patterns, description...) goes through withEnv too: the shell script's text is fixed by
// the step and holds variable names only, so neither a secret nor a quote in a file name can
// change what the shell runs.

import com.cloudbees.groovy.cps.NonCPS
import groovy.json.JsonSlurperClassic

/**
 * Signs `files` under `policy` and returns
 * [requestIds: [...], signed: [output paths], results: [one map per file, as sigil prints it],
 *  releaseId: String or null, manifest: String or null].
 * Fails the build (error) unless every file was signed; the message says why and what to do.
 */
def call(Map args = [:]) {
    String problem = optionsProblem(args, env.SIGIL_PROFILE)
    if (problem) {
        error("sigilSign: ${problem}")
    }
    Map o = withDefaults(args, [profile: env.SIGIL_PROFILE, commit: env.GIT_COMMIT,
                                buildUrl: env.BUILD_URL])
    if (!fileExists(o.profile)) {
        error("sigilSign: no client profile ${o.profile} in the workspace: commit one (docs/ci.md) " +
              'or pass profile: with its path')
    }
    Map profile = profileFacts(readFile(o.profile))
    List bindings = credentialBindings(o, profile.passwordEnvs)
    Map command = commandLine(o)

    if (profile.https) {
        echo "Sigil: signing ${o.files.join(', ')} under policy ${o.policy}; a request that " +
             "needs approval waits in the console ${profile.https}/ (up to ${o.wait})"
    }
    String stdout = null
    withEnv(command.vars) {
        withCredentials(bindings) {
            stdout = sh(script: command.script, returnStdout: true, label: 'sigil sign')
        }
    }
    Map run = parseRun(stdout, pwd())
    for (String line : run.lines) {
        echo line
    }
    if (run.code != 0) {
        error(failure(run, o, profile.https))
    }
    if (o.archive) {
        List paths = run.signed + (run.manifest ? [run.manifest] : [])
        archiveArtifacts(artifacts: paths.join(','), fingerprint: true)
    }
    return [requestIds: run.requestIds, signed: run.signed, results: run.results,
            releaseId: run.releaseId, manifest: run.manifest]
}

/** The step's options that are known, with a required one missing: what is wrong, or null. */
@NonCPS
String optionsProblem(Map args, String defaultProfile) {
    List known = ['policy', 'files', 'format', 'hash', 'wait', 'description', 'commit',
                  'buildUrl', 'requestId', 'output', 'profile', 'credentialsId',
                  'certificateCredentialsId', 'p12PasswordCredentialsId', 'passwordCredentialsId',
                  'passwordCredentials', 'archive', 'sigil']
    List unknown = args.keySet().findAll { !(it in known) }.collect { it.toString() }
    if (unknown) {
        return "unknown option(s) ${unknown.join(', ')}; the options are ${known.join(', ')}"
    }
    if (!args.policy) {
        return "policy is required (the issuance policy alias, e.g. policy: 'release')"
    }
    if (!args.profile && !defaultProfile) {
        return "profile is required (the client profile in the workspace, e.g. profile: " +
               "'ci/sigil.toml'), or set SIGIL_PROFILE on the agent"
    }
    if (!fileList(args.files)) {
        return "files is required (paths or glob patterns, e.g. files: 'dist/*.exe')"
    }
    if (args.credentialsId && args.certificateCredentialsId) {
        return 'give credentialsId (a file credential) or certificateCredentialsId (a ' +
               'certificate credential), not both'
    }
    return null
}

/** `files` as a list of patterns: one string, or a list of them. */
@NonCPS
List fileList(Object files) {
    return (files instanceof Collection ? files : [files]).findAll { it }.collect { it.toString() }
}

/** The options with their defaults (`fromEnv`: profile, commit, buildUrl from the build). */
@NonCPS
Map withDefaults(Map args, Map fromEnv) {
    Map o = [format: 'auto', hash: 'sha256', wait: '30m', archive: true, sigil: 'sigil'] +
            fromEnv.findAll { it.value } + args
    o.files = fileList(o.files)
    return o
}

/**
 * The environment (every value the caller gave) and the fixed script that names them: it logs
 * sigil's version, then signs. `|| code=$?` keeps `sh -e` from stopping before the exit code
 * is printed: the step reads sigil's JSON lines and then that one from standard output.
 */
@NonCPS
Map commandLine(Map o) {
    List vars = ["SIGIL_BIN=${o.sigil}", "SIGIL_ARG_PROFILE=${o.profile}",
                 "SIGIL_ARG_POLICY=${o.policy}", "SIGIL_ARG_FORMAT=${o.format}",
                 "SIGIL_ARG_HASH=${o.hash}", "SIGIL_ARG_WAIT=${o.wait}"]
    List flags = ['--profile "$SIGIL_ARG_PROFILE"', '--policy "$SIGIL_ARG_POLICY"',
                  '--format "$SIGIL_ARG_FORMAT"', '--hash "$SIGIL_ARG_HASH"',
                  '--wait "$SIGIL_ARG_WAIT"']
    Map optional = [description: '--description', commit: '--commit', buildUrl: '--build-url',
                    requestId: '--request-id', output: '--output']
    optional.each { String key, String flag ->
        if (o[key]) {
            String name = "SIGIL_ARG_${key.toUpperCase()}"
            vars << "${name}=${o[key]}"
            flags << "${flag} \"\$${name}\""
        }
    }
    o.files.eachWithIndex { String pattern, int i ->
        vars << "SIGIL_ARG_FILE_${i}=${pattern}"
        flags << "\"\$SIGIL_ARG_FILE_${i}\""
    }
    String script = '"$SIGIL_BIN" --version >&2 || true\ncode=0\n"$SIGIL_BIN" sign --json ' +
        flags.join(' ') +
        ' || code=$?\nprintf \'{"sigil_exit_code":%s}\\n\' "$code"\n'
    return [vars: vars.collect { it.toString() }, script: script]
}

/** What the step needs from the client profile: the console URL and the password variables. */
@NonCPS
Map profileFacts(String text) {
    String https = null
    List envs = []
    int identities = 0
    boolean top = true
    text.eachLine { String raw ->
        String line = raw.trim()
        if (line.startsWith('[')) {
            top = false
            if (line.replace(' ', '') == '[[identity]]') {
                identities++
                envs << 'SIGIL_PASSWORD'
            }
            return
        }
        int eq = line.indexOf('=')
        if (eq < 0 || line.startsWith('#')) {
            return
        }
        String key = line.substring(0, eq).trim()
        String value = tomlString(line.substring(eq + 1).trim())
        if (top && key == 'https') {
            https = value?.replaceAll('/+$', '')
        } else if (!top && key == 'password_env' && identities > 0 && value) {
            envs[identities - 1] = value
        }
    }
    return [https: https, passwordEnvs: envs.unique()]
}

/** The value of a one-line TOML string ("basic" or 'literal'), or null. */
@NonCPS
String tomlString(String text) {
    if (text.size() >= 2 && (text[0] == '"' || text[0] == "'")) {
        int end = text.indexOf(text[0], 1)
        return end > 0 ? text.substring(1, end) : null
    }
    return null
}

/**
 * withCredentials bindings: the client PKCS#12 as SIGIL_PKCS12 (a file credential, whose
 * password is a secret text, or a certificate credential with its password), and each
 * identity's password as a secret text bound to the variable the profile names.
 */
List credentialBindings(Map o, List passwordEnvs) {
    List bindings = []
    if (o.certificateCredentialsId) {
        bindings << certificate(credentialsId: o.certificateCredentialsId,
                                keystoreVariable: 'SIGIL_PKCS12', passwordVariable: 'SIGIL_P12_PASSWORD')
    } else if (o.credentialsId) {
        bindings << file(credentialsId: o.credentialsId, variable: 'SIGIL_PKCS12')
        String p12Password = o.p12PasswordCredentialsId ?: "${o.credentialsId}-p12-password"
        bindings << string(credentialsId: p12Password, variable: 'SIGIL_P12_PASSWORD')
    }
    Map passwords = o.passwordCredentials ?: [:]
    String base = o.credentialsId ?: o.certificateCredentialsId
    for (String name : passwordEnvs) {
        String id = passwords[name]
        if (!id && passwordEnvs.size() == 1) {
            id = o.passwordCredentialsId ?: (base ? "${base}-password" : null)
        }
        if (id) {
            bindings << string(credentialsId: id, variable: name)
        } else if (base || passwords) {
            error("sigilSign: no credential for ${name} (named by the profile ${o.profile}): " +
                  "add passwordCredentials: [${name}: 'CREDENTIAL-ID']")
        }
    }
    return bindings
}

/** Reads sigil's JSON lines and the exit-code line; paths under `cwd` become relative to it. */
@NonCPS
Map parseRun(String stdout, String cwd) {
    def slurper = new JsonSlurperClassic()
    Map run = [code: -1, results: [], requestIds: [], signed: [], lines: [],
               releaseId: null, manifest: null]
    String prefix = cwd ? cwd.replaceAll('/+$', '') + '/' : null
    def relative = { String path -> prefix && path?.startsWith(prefix) ? path.substring(prefix.size()) : path }
    (stdout ?: '').eachLine { String line ->
        if (!line.trim().startsWith('{')) {
            return
        }
        Map item = slurper.parseText(line)
        if (item.containsKey('sigil_exit_code')) {
            run.code = item.sigil_exit_code as int
        } else if (item.containsKey('file')) {
            run.results << item
            if (item.request_id) {
                run.requestIds << item.request_id
            }
            if (item.outcome == 'signed') {
                run.signed << relative(item.output)
                run.lines << "Sigil: signed ${item.file} (request ${item.request_id}) -> ${item.output}"
            }
        } else if (item.containsKey('release_id')) {
            run.releaseId = item.release_id
            run.manifest = item.manifest ? relative(item.manifest) : null
            run.lines << "Sigil: release ${item.release_id}" +
                (item.manifest ? ", manifest ${item.manifest}" : ' (no manifest: not every file was signed)')
        }
    }
    return run
}

/** The build's failure message for sigil's exit code, naming each file that was not signed. */
@NonCPS
String failure(Map run, Map o, String console) {
    List details = run.results.findAll { it.exit_code != 0 }.collect { Map r ->
        String id = r.request_id ? " (request ${r.request_id})" : ''
        switch (r.outcome) {
            case 'denied': return "${r.file}${id}: denied by the approver: ${r.reason ?: 'no reason given'}"
            case 'expired': return "${r.file}${id}: expired before it was approved; sign again"
            case 'timed-out': return "${r.file}${id}: still ${(r.state ?: 'pending').toLowerCase()} after ${o.wait}; " +
                "resume with sigilSign(..., requestId: '${r.request_id}') or " +
                "`sigil sign --request-id ${r.request_id} ${r.file}`"
            case 'refused': return "${r.file}${id}: refused by the server: ${r.code}: ${r.message}"
            default: return "${r.file}${id}: ${r.outcome}${r.message ? ': ' + r.message : ''}"
        }
    }
    String head
    switch (run.code) {
        case 2: head = 'usage or configuration error (exit 2): check the step\'s options, the profile ' +
            "${o.profile} and that the credentials are bound (the sigil error is in the log above)"; break
        case 3: head = 'refused by the server (exit 3): the policy, format or hash is not allowed ' +
            'for this identity, or the login failed'; break
        case 4: head = 'a signing request was denied (exit 4)'; break
        case 5: head = 'a signing request expired before it was approved (exit 5)'; break
        case 6: head = "approval did not come within wait: ${o.wait} (exit 6); the request(s) stay on " +
            'the server' + (console ? ", see ${console}/" : ''); break
        case 7: head = 'cannot reach the Sigil server (exit 7): check the profile\'s host_api address ' +
            'and that the server runs and is reachable from this agent, its ca_certificate and ' +
            'server_name, and the client certificate credential (the sigil error is in the log above)'; break
        case 8: head = 'the server failed to sign (exit 8): see the server\'s log'; break
        case 126:
        case 127: head = "cannot run ${o.sigil} (exit ${run.code}): install sigil on this agent " +
            '(docs/ci.md, check with `sigil --version`) or pass sigil: \'/path/to/sigil\''; break
        case -1: head = 'sigil sign did not report an exit code (the shell step was interrupted?)'; break
        default: head = "sigil sign failed (exit ${run.code}): see the log above"
    }
    return (["Sigil: ${head}"] + details).join('\n  ')
}
