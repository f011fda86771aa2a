a
# SIG # Begin signature block
Remove-Item x
