// Runs one global step of the shared library (vars/NAME.groovy) the way a pipeline calls it,
// with the pipeline steps it uses done for real, not mocked: `sh` runs the script with
// `/bin/sh -xe` in the workspace as a Jenkins agent does (standard output returned with
// returnStdout, standard error into the log as it comes), `withCredentials` copies file and
// certificate credentials to a temporary file and binds them and secret texts to the
// environment, `withEnv` sets variables, `echo` logs, `error` fails the build,
// `archiveArtifacts` copies files into the archive directory, `readFile` and `fileExists`
// look in the workspace, `pwd` is the workspace, `env` is the build's environment.
//
// What it is not: the CPS interpreter (the step runs as plain Groovy 2.4, the language
// Jenkins pipelines use), Jenkins' log masking of credentials (nothing is masked here, so a
// secret that reaches the log is seen), a controller, an agent connection.
//
//   groovy harness.groovy LIBRARY_DIR STEP ARGS.json CREDENTIALS.json ARCHIVE_DIR
//
// ARGS.json: the step's named arguments. CREDENTIALS.json: the credential store,
//   {"ID": {"type": "file", "path": P} | {"type": "string", "secret": S} |
//          {"type": "certificate", "path": P12, "password": S}}.
// The build's environment (WORKSPACE, BUILD_URL, GIT_COMMIT, PATH...) is this process's.
// The log goes to standard output and ends with "Finished: SUCCESS" (exit 0, preceded by
// "RESULT <json>", the step's return value), "Finished: FAILURE" (exit 1: the step failed the
// build) or "Finished: BROKEN" (exit 3: an exception other than a build failure).

import groovy.json.JsonOutput
import groovy.json.JsonSlurperClassic

if (args.length != 5) {
    System.err.println('usage: harness.groovy LIBRARY_DIR STEP ARGS.json CREDENTIALS.json ARCHIVE_DIR')
    System.exit(2)
}
File library = new File(args[0])
String stepName = args[1]
Map stepArgs = new JsonSlurperClassic().parse(new File(args[2]))
Map store = new JsonSlurperClassic().parse(new File(args[3]))
File archive = new File(args[4])

/** A failed build: what the `error` step (and any failing step) raises. */
class BuildFailure extends RuntimeException {
    BuildFailure(String message) { super(message) }
}

Object logLock = new Object()
def log = { String text ->
    synchronized (logLock) {
        System.out.println(text)
        System.out.flush()
    }
}

Map env = new LinkedHashMap(System.getenv())
File workspace = new File(env.WORKSPACE ?: System.getProperty('user.dir')).canonicalFile
env.WORKSPACE = workspace.path
File tmp = new File(workspace.path + '@tmp')
tmp.mkdirs()

/** Runs `body` with `vars` (NAME -> value) added to env, then puts env back. */
def withVars = { Map vars, Closure body ->
    Map saved = new LinkedHashMap(env)
    try {
        env.putAll(vars)
        return body()
    } finally {
        env.clear()
        env.putAll(saved)
    }
}

Binding binding = new Binding()
binding.setVariable('env', env)

binding.setVariable('echo', { Object message -> log(String.valueOf(message)) })

binding.setVariable('error', { Object message -> throw new BuildFailure(String.valueOf(message)) })

binding.setVariable('pwd', { Object a = null -> (a instanceof Map && a.tmp) ? tmp.path : workspace.path })

binding.setVariable('fileExists', { Object a ->
    String path = a instanceof Map ? a.file : a
    File f = new File(path)
    return (f.absolute ? f : new File(workspace, path)).exists()
})

binding.setVariable('readFile', { Object a ->
    String path = a instanceof Map ? a.file : a
    File f = new File(path)
    if (!f.absolute) {
        f = new File(workspace, path)
    }
    if (!f.isFile()) {
        throw new BuildFailure("readFile: ${f} does not exist")
    }
    return f.getText('UTF-8')
})

binding.setVariable('withEnv', { List overrides, Closure body ->
    Map vars = [:]
    overrides.each { Object item ->
        String text = item.toString()
        int eq = text.indexOf('=')
        vars[text.substring(0, eq)] = text.substring(eq + 1)
    }
    return withVars(vars, body)
})

// Credential binding descriptions, as the Credentials Binding plugin's symbols return them.
binding.setVariable('file', { Map a -> [kind: 'file'] + a })
binding.setVariable('string', { Map a -> [kind: 'string'] + a })
binding.setVariable('certificate', { Map a -> [kind: 'certificate'] + a })

binding.setVariable('withCredentials', { List bindings, Closure body ->
    Map vars = [:]
    List copies = []
    bindings.each { Map b ->
        String id = b.credentialsId.toString()
        Map credential = store[id]
        if (credential == null) {
            throw new BuildFailure("Could not find credentials entry with ID '${id}'")
        }
        if (b.kind == 'string' && credential.type == 'string') {
            vars[b.variable] = credential.secret
        } else if (b.kind in ['file', 'certificate'] && credential.type == b.kind) {
            // As the plugin does: a private copy in the workspace's @tmp, deleted afterwards.
            File dir = new File(tmp, "secretFiles/${UUID.randomUUID()}")
            dir.mkdirs()
            File copy = new File(dir, new File(credential.path).name)
            copy.bytes = new File(credential.path).bytes
            copies << dir
            vars[b.kind == 'file' ? b.variable : b.keystoreVariable] = copy.path
            if (b.kind == 'certificate' && b.passwordVariable) {
                vars[b.passwordVariable] = credential.password
            }
        } else {
            throw new BuildFailure("Credentials '${id}' is of type ${credential.type} where ${b.kind} was expected")
        }
    }
    try {
        return withVars(vars, body)
    } finally {
        copies.each { File dir -> dir.deleteDir() }
    }
})

binding.setVariable('sh', { Object a ->
    Map o = a instanceof Map ? a : [script: a]
    List known = ['script', 'returnStdout', 'returnStatus', 'label', 'encoding']
    List unknown = o.keySet().findAll { !(it in known) }.collect { it.toString() }
    if (unknown) {
        throw new IllegalArgumentException("sh: unknown parameter(s) ${unknown}")
    }
    if (o.returnStdout && o.returnStatus) {
        throw new IllegalArgumentException('sh: returnStdout and returnStatus are exclusive')
    }
    File script = File.createTempFile('script', '.sh', tmp)
    script.text = o.script
    log("[Pipeline] sh${o.label ? ' (' + o.label + ')' : ''}")
    ProcessBuilder pb = new ProcessBuilder('/bin/sh', '-xe', script.path).directory(workspace)
    pb.environment().clear()
    env.each { k, v -> if (v != null) { pb.environment().put(k.toString(), v.toString()) } }
    Process process = pb.start()
    process.outputStream.close()
    Thread errors = Thread.start {
        process.errorStream.eachLine('UTF-8') { String line -> log(line) }
    }
    String stdout = process.inputStream.getText('UTF-8')
    int status = process.waitFor()
    errors.join()
    script.delete()
    if (!o.returnStdout) {
        stdout.eachLine { String line -> log(line) }
    }
    if (o.returnStatus) {
        return status
    }
    if (status != 0) {
        throw new BuildFailure("script returned exit code ${status}")
    }
    return o.returnStdout ? stdout : null
})

binding.setVariable('archiveArtifacts', { Map a ->
    List patterns = a.artifacts.toString().split(',').collect { it.trim() }.findAll { it }
    if (!patterns) {
        throw new BuildFailure('archiveArtifacts: no artifacts given')
    }
    patterns.each { String path ->
        File source = new File(workspace, path)
        if (!source.isFile()) {
            throw new BuildFailure("No artifacts found that match the file pattern \"${path}\"")
        }
        File target = new File(archive, path)
        target.parentFile.mkdirs()
        target.bytes = source.bytes
    }
    log("Archiving artifacts: ${patterns.join(', ')}")
})

// The step runs as a library global variable: a script whose call() uses the steps above.
// com.cloudbees.groovy.cps.NonCPS, which the library imports, is provided here.
GroovyClassLoader loader = new GroovyClassLoader(this.class.classLoader)
loader.parseClass('''package com.cloudbees.groovy.cps
import java.lang.annotation.*
@Retention(RetentionPolicy.RUNTIME) @Target(ElementType.METHOD) @interface NonCPS {}''')
Script step = new GroovyShell(loader, binding).parse(new File(library, "vars/${stepName}.groovy"))

try {
    Object result = step.call(stepArgs)
    log("RESULT ${JsonOutput.toJson(result)}")
    log('Finished: SUCCESS')
    System.exit(0)
} catch (BuildFailure e) {
    log("ERROR: ${e.message}")
    log('Finished: FAILURE')
    System.exit(1)
} catch (Throwable e) {
    // Not a build failure: the step (or this harness) is broken.
    e.printStackTrace(System.out)
    log('Finished: BROKEN')
    System.exit(3)
}
