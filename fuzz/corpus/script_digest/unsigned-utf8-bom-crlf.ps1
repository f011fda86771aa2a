param($x)
Write-Host $x
