a
# SIG # Begin signature block
# MAMCAQU=
# SIG # End signature block
