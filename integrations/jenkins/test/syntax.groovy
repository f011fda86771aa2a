// Checks that Groovy files parse (syntax only: no class is resolved, nothing runs), e.g. the
// example Jenkinsfile, whose declarative DSL and @Library only a Jenkins controller resolves.
//
//   groovy syntax.groovy FILE...
import org.codehaus.groovy.control.CompilationFailedException
import org.codehaus.groovy.control.CompilationUnit
import org.codehaus.groovy.control.Phases

int bad = 0
args.each { String path ->
    CompilationUnit unit = new CompilationUnit()
    unit.addSource(new File(path))
    try {
        unit.compile(Phases.CONVERSION)
        println "${path}: syntax ok"
    } catch (CompilationFailedException e) {
        println "${path}: ${e.message}"
        bad++
    }
}
System.exit(bad ? 1 : 0)
